-- The next events of the log after a cursor, in commit-safe order.
--
-- Only events of transactions older than the oldest one still running are read:
-- their set can no longer grow. Ordered by (transaction_id, position), an event that
-- commits later always sorts after everything read before it, so a reader that keeps
-- (transaction_id, position) of the last event it handled never skips one.
--
-- $1 transaction_id of the cursor (as text: sqlx has no xid8 type), $2 its position,
-- $3 how many events at most.
SELECT transaction_id::text::bigint AS transaction_id,
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
WHERE (transaction_id, position) > ($1::text::xid8, $2)
  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
-- Qualified: the bare names would sort by the converted output column, which no
-- index serves (a full sort of the backlog on every read).
ORDER BY events.transaction_id, events.position
LIMIT $3
