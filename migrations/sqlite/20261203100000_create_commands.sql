-- Commands accepted asynchronously (the seed system's front door: `POST /crear-campaign`
-- and the like) and what became of each, read by `GET /commands/{id}`.
--
-- `queued`: executed from this table by the embedded command queue. Commands published
-- to a broker topic instead are kept here only for their outcome (`queued` 0).
-- `status` moves once, from `pending` to `succeeded` or `failed`: the first outcome is
-- kept, whatever a redelivery finds later.
CREATE TABLE commands (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    command_id      TEXT    NOT NULL UNIQUE,
    command_type    TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    queued          INTEGER NOT NULL,
    -- The client's `Idempotency-Key` and a hash of its request: a retry answers the
    -- first command.
    idempotency_key TEXT UNIQUE,
    request_hash    BLOB,
    status          TEXT    NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'succeeded', 'failed')),
    -- RFC 3339 text, as the other tables of this backend.
    submitted_at    TEXT    NOT NULL,
    completed_at    TEXT,
    -- Succeeded: the command's answer; failed: the RFC 9457 problem (JSON text).
    result          TEXT
);

-- The queue: pending commands in the order they were accepted.
CREATE INDEX commands_queue ON commands (seq) WHERE status = 'pending' AND queued;

-- The consumers' lag: the commands without an outcome yet, whichever carried them.
CREATE INDEX commands_pending ON commands (submitted_at) WHERE status = 'pending';
