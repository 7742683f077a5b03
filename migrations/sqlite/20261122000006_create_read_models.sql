-- Read models: written only by projectors, read only by the query endpoints (see the
-- Postgres migration of the same name). Each can be rebuilt from the log at any time
-- (into shadow copies of these tables, made from this schema, swapped in when caught
-- up), so nothing here is a source of truth.
--
-- Column names and meanings are those of Postgres, so one row document (a JSON
-- object whose fields are the columns) fits both. SQLite has no jsonb, timestamptz
-- or uuid types:
-- - JSON columns are text holding valid JSON (money amounts stay JSON strings, as
--   exact as they were written);
-- - timestamps are RFC 3339 text in UTC with exactly six fractional digits (what
--   Postgres keeps), so text order is time order;
-- - uuids are lowercase hyphenated text.

-- The `campaigns` projection.
CREATE TABLE campaign_view
(
    -- UUIDv7 text: ordering by id is ordering by creation, so keyset pagination on
    -- id lists campaigns oldest first (byte order, as Postgres's C.UTF-8 collation).
    id            text    PRIMARY KEY,
    name          text    NOT NULL,
    brand_id      text    NOT NULL,
    status        text    NOT NULL,
    budget        text    NOT NULL CHECK (json_valid(budget)),
    starts_at     text,
    ends_at       text,
    participants  text    NOT NULL CHECK (json_valid(participants)),
    created_at    text    NOT NULL,
    updated_at    text    NOT NULL,
    version       integer NOT NULL,
    last_event_id text    NOT NULL
) STRICT;
CREATE INDEX campaign_view_brand_idx ON campaign_view (brand_id, id);
CREATE INDEX campaign_view_status_idx ON campaign_view (status, id);

-- Also the `campaigns` projection: which campaigns list a partner as participant
-- (for GET /partners/{id}). Derived from campaign events only.
CREATE TABLE partner_campaigns
(
    partner_id      text NOT NULL,
    campaign_id     text NOT NULL,
    campaign_name   text NOT NULL,
    campaign_status text NOT NULL,
    PRIMARY KEY (partner_id, campaign_id)
) STRICT;
CREATE INDEX partner_campaigns_campaign_idx ON partner_campaigns (campaign_id);

-- The `partners` projection.
CREATE TABLE partner_view
(
    id            text    PRIMARY KEY,
    name          text    NOT NULL,
    -- The name in lowercase (Unicode, folded by the projector): SQLite's LIKE and
    -- lower() fold ASCII only, and the name search must be case-insensitive for every
    -- letter, as Postgres's ILIKE is. Not part of the row document.
    name_folded   text    NOT NULL,
    kind          text    NOT NULL,
    profile       text    NOT NULL,
    email         text,
    status        text    NOT NULL,
    created_at    text    NOT NULL,
    updated_at    text    NOT NULL,
    version       integer NOT NULL,
    last_event_id text    NOT NULL
) STRICT;
CREATE INDEX partner_view_kind_idx ON partner_view (kind, id);
CREATE INDEX partner_view_status_idx ON partner_view (status, id);
