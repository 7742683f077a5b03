-- The stock baseline's schema: the `events` table exactly as postgres-es 0.5 ships it
-- (its `db/init.sql`), which is what a team wiring up stock cqrs-es + postgres-es
-- creates. None of our additions (global position, event ids, commit-order index):
-- the stock path is measured on what it needs, not on what our features cost.
CREATE TABLE events
(
    aggregate_type text                         NOT NULL,
    aggregate_id   text                         NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                         NOT NULL,
    event_version  text                         NOT NULL,
    payload        json                         NOT NULL,
    metadata       json                         NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
