-- An aggregate's stream ($1 its type, $2 its id), straight from the log (always current: it is the source of truth).
SELECT event_id, sequence, position, event_type, event_version, recorded_at, payload, metadata
FROM events
WHERE aggregate_type = $1
  AND aggregate_id = $2
ORDER BY sequence
