-- Appends one event of a command (run once per event, inside the command's write
-- transaction). The position is the rowid, assigned in insert order; with SQLite's
-- single writer that is also commit order.
-- A concurrent writer that appended the same sequence first makes this fail on the
-- unique stream key (optimistic concurrency).
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                    payload, metadata, event_id, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING sequence, position
