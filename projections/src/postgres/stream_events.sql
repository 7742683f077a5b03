-- A campaign's stream, straight from the log (always current: it is the source of truth).
SELECT event_id, sequence, position, event_type, event_version, recorded_at, payload, metadata
FROM events
WHERE aggregate_type = 'Campaign'
  AND aggregate_id = $1
ORDER BY sequence
