-- One table for every lease (store/src/lease.rs): the leader of each log consumer
-- (a projector, a relay) and the rebuild of each view. Postgres uses session advisory
-- locks, which SQLite does not have; a lease row works across the processes that may
-- open the same file (`alpes serve` next to `alpes relay` or the CLI). Its holder
-- renews it regularly; a holder that dies stops renewing and another takes over once
-- it expired; a graceful stop deletes it. Times are epoch milliseconds of the
-- machine's clock (one machine: SQLite files are not shared over a network).
CREATE TABLE leases
(
    -- `<kind>:<name>`: `projector:campaigns`, `rebuild:campaigns`, `relay:pulsar`.
    key        text    PRIMARY KEY,
    -- A random id per holder (per instance of what holds it), not per process.
    holder     text    NOT NULL,
    expires_at integer NOT NULL
) STRICT;

-- The leases that were kept apart before, each in its own way: the relay's table, and
-- the projectors' and rebuilds' lease columns of projector_checkpoints (the table is
-- rebuilt without them: SQLite's DROP COLUMN cannot edit its commented CREATE).
DROP TABLE relay_leases;

CREATE TABLE projector_checkpoints_new
(
    name               text    PRIMARY KEY,
    -- The cursor: the position of the last event applied. SQLite assigns positions
    -- in commit order, so the position alone is a safe cursor (no transaction id).
    position           integer NOT NULL DEFAULT 0,
    events_applied     integer NOT NULL DEFAULT 0,
    updated_at         text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    -- Set when the projector stopped on an event it could not apply (it never skips
    -- one silently); cleared by an operator's retry or skip.
    failed_event_id    text,
    failed_position    integer,
    last_error         text,
    failed_at          text,
    -- Events an operator chose to skip, for the record: a JSON array of event ids.
    skipped_event_ids  text    NOT NULL DEFAULT '[]' CHECK (json_valid(skipped_event_ids)),
    -- While a rebuild runs (in any process): when it started and how far it got. Which
    -- rebuild runs is its lease's business (`leases`, key `rebuild:<name>`).
    rebuild_started_at text,
    rebuild_position   integer
) STRICT;

INSERT INTO projector_checkpoints_new (name, position, events_applied, updated_at, failed_event_id,
                                       failed_position, last_error, failed_at, skipped_event_ids,
                                       rebuild_started_at, rebuild_position)
SELECT name, position, events_applied, updated_at, failed_event_id, failed_position, last_error,
       failed_at, skipped_event_ids, rebuild_started_at, rebuild_position
FROM projector_checkpoints;

DROP TABLE projector_checkpoints;
ALTER TABLE projector_checkpoints_new RENAME TO projector_checkpoints;
