-- Whether projector $1 has applied the event at global position $2: NULL when no
-- event has that position.
SELECT (e.transaction_id, e.position) <= (c.transaction_id, c.position)
FROM events e,
     projector_checkpoints c
WHERE e.position = $2
  AND c.name = $1
