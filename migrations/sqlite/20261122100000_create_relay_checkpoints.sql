-- Where each outbox relay is in the log (see the Postgres migration of the same name):
-- the cursor of the last event it has published, with every event before it. The relay
-- moves it only after its transport's receipts (for the in-process bus: after the
-- subscribers applied the event), so after any crash it resumes at or before the first
-- event not surely delivered: events may be delivered twice (consumers deduplicate on
-- the event id), never lost. On SQLite both halves of the cursor are the position.
-- One row per relay name (one per transport: "pulsar", "in-process").
CREATE TABLE relay_checkpoints
(
    relay          text    PRIMARY KEY,
    transaction_id integer NOT NULL,
    position       integer NOT NULL,
    updated_at     text    NOT NULL
) STRICT;

-- One active relay per name. Postgres uses a session advisory lock, which SQLite does
-- not have; a lease row works across the processes that may open the same file
-- (`alpes serve` next to `alpes relay`). The active relay renews it regularly; a
-- holder that dies stops renewing and a standby takes over once it expired. A graceful
-- stop deletes it. Times are epoch milliseconds of the machine's clock (one machine:
-- SQLite files are not shared over a network).
CREATE TABLE relay_leases
(
    relay      text    PRIMARY KEY,
    -- A random id per lock holder (per relay instance), not per process.
    holder     text    NOT NULL,
    expires_at integer NOT NULL
) STRICT;
