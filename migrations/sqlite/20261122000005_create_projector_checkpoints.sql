-- One row per projector: how far into the log its read model is (see the Postgres
-- migration of the same name).
--
-- The row is updated in the same write transaction as the read model, so each event's
-- effect lands exactly once, across crashes too. SQLite has one writer at a time: a
-- batch's write transaction re-reads the checkpoint first and gives up if it moved
-- (another process on the same file, or a rebuild's swap), which fences batches the
-- way Postgres's FOR UPDATE does.
--
-- Timestamps are RFC 3339 text in UTC, in one fixed width, so text order is time order.
CREATE TABLE projector_checkpoints
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
    -- While a rebuild runs (in any process): when it started and how far it got.
    rebuild_started_at text,
    rebuild_position   integer,
    -- SQLite has no advisory locks that die with a session, so a rebuild holds a
    -- lease instead: `rebuild_owner` names the running rebuild, which renews
    -- `rebuild_until` with every batch. A rebuild whose process died is recognised by
    -- its expired lease, and may then be replaced.
    rebuild_owner      text,
    rebuild_until      text,
    -- Until when a process that runs this projector is known to be alive (renewed
    -- periodically by it): what a process that runs no projector (the CLI) reads to
    -- report it running or stopped.
    leader_until       text
) STRICT;
