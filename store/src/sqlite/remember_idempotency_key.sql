-- Remembers a command's Idempotency-Key in the transaction that appends its events.
-- A concurrent retry of the same request fails here on the primary key.
INSERT INTO command_idempotency (idempotency_key, request_hash, aggregate_type, aggregate_id,
                                 first_sequence, last_sequence)
VALUES ($1, $2, $3, $4, $5, $6)
