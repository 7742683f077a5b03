-- Starts a projector's (or a rebuild's) write transaction. Sent as one simple query.
--
-- synchronous_commit off, for this transaction only: its commit does not wait for
-- the WAL to reach the disk. A view is derived data, and the batch's checkpoint is in
-- the same transaction, so a crash of Postgres can only lose the last batches and
-- their checkpoint together: the projector reads those events again from the log,
-- which is written with synchronous commits (and read only once they are durable).
-- Without this, every batch waited for a flush of its own, competing with the
-- commands' appends for the disk: at one client, three flushes per command instead
-- of one.
--
-- enable_seqscan off, for this transaction only: every statement of a batch looks rows
-- up by key, so an index plan is always the right one. Prepared statements keep,
-- after five executions, a generic plan made for whatever size the view had then;
-- views start empty, so that plan was a sequential scan, and it stayed one while the
-- view grew, until autovacuum's next ANALYZE (measured under command load: 6.3 ms per
-- batch to delete a few campaigns' partner links from a 30k-row table, 0.11 ms with
-- this). Planning every execution instead (plan_cache_mode = force_custom_plan) also
-- fixed it, at the cost of planning each statement of each batch.
BEGIN;
SET LOCAL synchronous_commit = off;
SET LOCAL enable_seqscan = off;
