-- One row per projector: how far into the log its read model is.
--
-- The row is updated in the same transaction as the read model (each event's effect
-- lands exactly once, across crashes too), and locked FOR UPDATE at the start of that
-- transaction: a projector that lost its leadership, or a rebuild swapping in a new
-- version of the view, can never interleave its writes with another's.
CREATE TABLE projector_checkpoints
(
    name             text        PRIMARY KEY,
    -- The cursor: the last event applied, as (transaction_id, position); see
    -- store/sql/read_log.sql for why position alone is not enough.
    transaction_id   xid8        NOT NULL DEFAULT '0',
    position         bigint      NOT NULL DEFAULT 0,
    events_applied   bigint      NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- Set when the projector stopped on an event it could not apply (it never skips
    -- one silently); cleared by an operator's retry or skip.
    failed_event_id  uuid,
    failed_position  bigint,
    last_error       text,
    failed_at        timestamptz,
    -- Events an operator chose to skip, for the record.
    skipped_event_ids uuid[]     NOT NULL DEFAULT '{}',
    -- While a rebuild runs (in any process): when it started and how far it got.
    rebuild_started_at timestamptz,
    rebuild_position   bigint
);
