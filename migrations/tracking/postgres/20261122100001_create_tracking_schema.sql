-- The tracking service's own tables, in a schema of their own. Fed only by the
-- integration events it consumes from Pulsar (never by the write side's tables), and by
-- its HTTP API (clicks and conversions).

CREATE SCHEMA tracking;

-- Idempotency of the consumer: one row per integration event applied, inserted in the
-- same transaction as the event's effect on the view. A redelivered or duplicated
-- message finds its row and changes nothing.
CREATE TABLE tracking.applied_events
(
    event_id    uuid PRIMARY KEY,
    event_type  text        NOT NULL,
    subject     text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- The consumer's counters, one row per subscription, updated with every event.
CREATE TABLE tracking.consumer_stats
(
    subscription       text PRIMARY KEY,
    events_applied     bigint      NOT NULL DEFAULT 0,
    duplicates_ignored bigint      NOT NULL DEFAULT 0,
    last_event_id      uuid,
    last_event_type    text,
    last_event_subject text,
    last_applied_at    timestamptz
);

-- The view: which campaigns are active, which partners take part, which partners are
-- barred. Each fact keeps the aggregate sequence of the event that set it and only a
-- later event (higher sequence) replaces it, so the view ends the same whatever order
-- the events arrive in (an older event delivered late is ignored).
CREATE TABLE tracking.campaigns
(
    campaign_id     text PRIMARY KEY,
    -- draft | active | paused | completed | cancelled
    status          text        NOT NULL,
    status_sequence bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- No foreign key to campaigns: a participant may arrive before its campaign's status.
CREATE TABLE tracking.participants
(
    campaign_id text        NOT NULL,
    partner_id  text        NOT NULL,
    -- false once removed (kept, with its sequence, so an older "added" cannot revive it)
    taking_part boolean     NOT NULL,
    sequence    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, partner_id)
);

CREATE TABLE tracking.partners
(
    partner_id      text PRIMARY KEY,
    -- active | suspended | deactivated
    status          text        NOT NULL,
    status_sequence bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- What the API records. `external_id` is the client's own id, unique within a campaign:
-- a repeated one answers the first record and records nothing (NULLs do not collide).
-- Scoped by campaign so that one brand's ids can neither collide with nor reveal
-- another's records.
CREATE TABLE tracking.clicks
(
    click_id    uuid PRIMARY KEY,
    campaign_id text        NOT NULL,
    partner_id  text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    external_id text,
    UNIQUE (campaign_id, external_id)
);

CREATE INDEX clicks_campaign_idx ON tracking.clicks (campaign_id, partner_id);

CREATE TABLE tracking.conversions
(
    conversion_id  uuid PRIMARY KEY,
    campaign_id    text        NOT NULL,
    partner_id     text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    external_id    text,
    -- Exact decimal, at the currency's minor units; both NULL when no value was given.
    value_amount   numeric,
    value_currency text,
    CHECK ((value_amount IS NULL) = (value_currency IS NULL)),
    UNIQUE (campaign_id, external_id)
);

CREATE INDEX conversions_campaign_idx ON tracking.conversions (campaign_id, partner_id);
