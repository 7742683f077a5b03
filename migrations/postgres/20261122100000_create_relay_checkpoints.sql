-- Where each outbox relay is in the log: the cursor (transaction_id, position) of the
-- last event it has published, with every event before it in commit order (see
-- store/src/reader.rs). The relay moves it only after the broker's send receipts, so
-- after any crash it resumes at or before the first event not surely published: events
-- may be published twice (consumers deduplicate on the event id), never lost.
-- One row per relay name (one per transport: "pulsar", later "in-process").
CREATE TABLE relay_checkpoints
(
    relay          text PRIMARY KEY,
    transaction_id bigint      NOT NULL,
    position       bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
