-- Appends no longer NOTIFY from inside their own transaction (the trigger of
-- 20261122000004_notify_on_append.sql). A transaction that NOTIFYs holds a
-- cluster-wide lock from just before its commit until its commit record is flushed,
-- so every appending commit waited for the previous one's flush: Postgres could not
-- flush concurrent commits together (pgbench on our machine, one-row INSERTs, 32
-- clients: 6 280 tx/s without the trigger, 601 with it).
--
-- The application now notifies after its appends commit, once per round of appends
-- (store/src/notifier.rs, sql/postgres/notify_appended.sql), on the same channel.
-- Rows inserted by anything else wake no reader: readers find them at their next poll.
DROP TRIGGER events_appended ON events;
DROP FUNCTION notify_events_appended();
