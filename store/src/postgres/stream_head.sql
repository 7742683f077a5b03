-- The position of an aggregate's event at a given sequence: what a command that
-- committed nothing answers as its read-your-writes token.
SELECT position
FROM events
WHERE aggregate_type = $1
  AND aggregate_id = $2
  AND sequence = $3
