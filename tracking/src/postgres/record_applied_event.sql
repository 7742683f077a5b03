-- Claims an integration event for this transaction: no row is inserted (0 rows
-- affected) when the event was applied before, and the caller then changes nothing.
-- A concurrent consumer applying the same event waits here until the first commits.
-- $1 event id, $2 CloudEvent type, $3 subject.
INSERT INTO tracking.applied_events (event_id, event_type, subject)
VALUES ($1, $2, $3)
ON CONFLICT (event_id) DO NOTHING
