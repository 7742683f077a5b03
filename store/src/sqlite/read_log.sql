-- The next events of the log after a cursor. SQLite commits one writer at a time and
-- positions are assigned inside the write, so position order is commit order and no
-- event can appear later below a position already read: the position alone is the
-- cursor (reported as both halves of the cursor pair).
--
-- $1 position of the cursor, $2 how many events at most.
SELECT position AS transaction_id,
       position,
       event_id,
       aggregate_type,
       aggregate_id,
       sequence,
       event_type,
       event_version,
       payload,
       metadata,
       recorded_at
FROM events
WHERE position > $1
ORDER BY position
LIMIT $2
