-- Where the tracking service puts the messages it cannot apply when it is fed by the
-- in-process bus (no Pulsar, so no dead-letter topic): after a few redeliveries the
-- message is stored here, as received, and acknowledged, so it does not hold back
-- the messages behind it. An operator reads the reason and the payload from here.
CREATE TABLE tracking.dead_letters
(
    dead_letter_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription     text        NOT NULL,
    -- NULL when the message carried no readable event id.
    event_id         uuid,
    message_key      text        NOT NULL,
    payload          bytea       NOT NULL,
    properties       jsonb       NOT NULL,
    reason           text        NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT now()
);
