-- Accepts a command; no row when its id or its idempotency key is taken.
INSERT INTO commands (command_id, command_type, payload, queued, idempotency_key, request_hash, submitted_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT DO NOTHING
