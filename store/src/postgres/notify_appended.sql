-- Wakes the log's readers (LISTEN alpes_events_appended, store/src/postgres/mod.rs) after
-- appends committed. Sent by store/src/postgres/notifier.rs, once per round of appends, in an
-- implicit transaction of its own.
-- synchronous_commit off, for this transaction only (set_config's `true`): its commit
-- does not wait for a WAL flush. A notification needs no durability, and NOTIFY holds
-- a cluster-wide lock until its transaction has committed.
SELECT set_config('synchronous_commit', 'off', true), pg_notify('alpes_events_appended', '')
