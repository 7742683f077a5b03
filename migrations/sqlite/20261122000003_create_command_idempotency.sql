-- Idempotency keys of commands that committed events (see the Postgres migration of
-- the same name): inserted in the same transaction as the command's events; a retry
-- is answered from the events the row points at.
CREATE TABLE command_idempotency
(
    idempotency_key text    PRIMARY KEY,
    -- SHA-256 of method, path and canonical JSON body.
    request_hash    blob    NOT NULL,
    aggregate_type  text    NOT NULL,
    aggregate_id    text    NOT NULL,
    first_sequence  integer NOT NULL,
    last_sequence   integer NOT NULL,
    created_at      text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
