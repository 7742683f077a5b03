-- The events committed by the command that used an idempotency key.
-- No rows: the key is unused.
SELECT k.request_hash, k.aggregate_id, e.sequence, e.event_id, e.position
FROM command_idempotency k
         JOIN events e
              ON e.aggregate_type = k.aggregate_type
                  AND e.aggregate_id = k.aggregate_id
                  AND e.sequence BETWEEN k.first_sequence AND k.last_sequence
WHERE k.idempotency_key = $1
ORDER BY e.sequence
