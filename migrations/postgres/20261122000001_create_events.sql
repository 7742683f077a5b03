-- The event store table, exactly as postgres-es 0.5 expects it (its `db/init.sql`):
-- `PostgresEventRepository` reads aggregate streams from these columns, so they must
-- keep these names and types. One row per domain event; an aggregate's stream is
-- (aggregate_type, aggregate_id) ordered by `sequence`, which starts at 1.
-- The primary key doubles as the optimistic-concurrency guard: two writers that
-- both try to append sequence N to the same stream cannot both succeed.
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
