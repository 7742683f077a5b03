-- Claims an integration event for this transaction: no row is inserted (0 rows
-- affected) when the event was applied before, and the caller then changes nothing.
-- (SQLite has one writer at a time: a concurrent delivery of the same event waits for
-- the write lock, then finds the row.)
-- $1 event id, $2 CloudEvent type, $3 subject.
INSERT INTO tracking_applied_events (event_id, event_type, subject)
VALUES ($1, $2, $3)
ON CONFLICT (event_id) DO NOTHING
