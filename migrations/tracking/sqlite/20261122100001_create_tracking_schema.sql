-- The tracking service's own tables (see the Postgres migration of the same name, which
-- puts them in a `tracking` schema; SQLite has no schemas, so they share the
-- `tracking_` prefix instead). Fed only by the integration events it consumes (from
-- Pulsar or the in-process bus, never the write side's tables), and by its HTTP API.
--
-- Types: ids are UUID text (hyphenated, as `events.event_id`), moments RFC 3339 UTC
-- text: written by the service with microseconds (`2026-11-22T10:00:00.123456Z`, as
-- precise as Postgres's timestamptz), by defaults with milliseconds.

-- Idempotency of the consumer: one row per integration event applied, inserted in the
-- same transaction as the event's effect on the view.
CREATE TABLE tracking_applied_events
(
    event_id   text PRIMARY KEY,
    event_type text NOT NULL,
    subject    text NOT NULL,
    applied_at text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- The consumer's counters, one row per subscription, updated with every event.
CREATE TABLE tracking_consumer_stats
(
    subscription       text PRIMARY KEY,
    events_applied     integer NOT NULL DEFAULT 0,
    duplicates_ignored integer NOT NULL DEFAULT 0,
    last_event_id      text,
    last_event_type    text,
    last_event_subject text,
    last_applied_at    text
) STRICT;

-- The view. Each fact keeps the aggregate sequence of the event that set it and only a
-- later event replaces it, so the view ends the same whatever order events arrive in.
CREATE TABLE tracking_campaigns
(
    campaign_id     text PRIMARY KEY,
    -- draft | active | paused | completed | cancelled
    status          text    NOT NULL,
    status_sequence integer NOT NULL,
    updated_at      text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE tracking_participants
(
    campaign_id text    NOT NULL,
    partner_id  text    NOT NULL,
    -- 0 once removed (kept, with its sequence, so an older "added" cannot revive it)
    taking_part integer NOT NULL CHECK (taking_part IN (0, 1)),
    sequence    integer NOT NULL,
    updated_at  text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (campaign_id, partner_id)
) STRICT;

CREATE TABLE tracking_partners
(
    partner_id      text PRIMARY KEY,
    -- active | suspended | deactivated
    status          text    NOT NULL,
    status_sequence integer NOT NULL,
    updated_at      text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- What the API records; `external_id` is unique within a campaign (NULLs do not collide).
CREATE TABLE tracking_clicks
(
    click_id    text PRIMARY KEY,
    campaign_id text NOT NULL,
    partner_id  text NOT NULL,
    occurred_at text NOT NULL,
    recorded_at text NOT NULL,
    external_id text,
    UNIQUE (campaign_id, external_id)
) STRICT;

CREATE INDEX tracking_clicks_campaign_idx ON tracking_clicks (campaign_id, partner_id);

-- SQLite has no exact decimal type: the amount is kept twice, as the exact text the
-- API answers (`59.90`, at the currency's minor units) and as an integer count of
-- minor units (5990) that statistics sum exactly.
CREATE TABLE tracking_conversions
(
    conversion_id  text PRIMARY KEY,
    campaign_id    text NOT NULL,
    partner_id     text NOT NULL,
    occurred_at    text NOT NULL,
    recorded_at    text NOT NULL,
    external_id    text,
    value_amount   text,
    value_minor    integer,
    value_currency text,
    CHECK ((value_amount IS NULL) = (value_currency IS NULL)),
    CHECK ((value_minor IS NULL) = (value_currency IS NULL)),
    UNIQUE (campaign_id, external_id)
) STRICT;

CREATE INDEX tracking_conversions_campaign_idx ON tracking_conversions (campaign_id, partner_id);

-- Messages of the in-process bus the service could not process (undecodable, or refused
-- by the database for good) after a few attempts: recorded here, then acknowledged, so
-- one bad message never blocks the rest (the Pulsar feed sends them to a dead-letter
-- topic instead). Kept for inspection; nothing reads them back automatically.
CREATE TABLE tracking_dead_letters
(
    dead_letter_id   integer PRIMARY KEY AUTOINCREMENT,
    subscription     text NOT NULL,
    event_id         text,
    message_key      text NOT NULL,
    payload          blob NOT NULL,
    -- JSON object of the message properties (event_type, position, ...).
    properties       text NOT NULL,
    reason           text NOT NULL,
    dead_lettered_at text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
