-- Accepts a command; no row when its id or its idempotency key is taken.
INSERT INTO commands (command_id, command_type, payload, queued, idempotency_key, request_hash, submitted_at, issued_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING
RETURNING seq
