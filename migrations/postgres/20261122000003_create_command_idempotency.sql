-- Idempotency keys of commands that committed events.
--
-- A row is inserted by the same statement that appends the command's events, so a
-- retry can never find the events without the key or the key without the events.
-- The answer to a retry is not stored: it is read back from the events the row
-- points at (aggregate, first..last sequence), which are immutable.
CREATE TABLE command_idempotency
(
    idempotency_key text        PRIMARY KEY,
    -- SHA-256 of method, path and canonical JSON body: the same key with another
    -- request is refused instead of silently answered with the first one's result.
    request_hash    bytea       NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    first_sequence  bigint      NOT NULL,
    last_sequence   bigint      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
