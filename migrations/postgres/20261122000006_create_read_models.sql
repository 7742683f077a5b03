-- Read models: written only by projectors, read only by the query endpoints.
-- Each can be rebuilt from the log at any time (into shadow copies of these tables,
-- swapped in when caught up), so nothing here is a source of truth.

-- The `campaigns` projection.
CREATE TABLE campaign_view
(
    -- UUIDv7 text: ordering by id is ordering by creation, so keyset pagination on
    -- id lists campaigns oldest first.
    id            text PRIMARY KEY,
    name          text        NOT NULL,
    brand_id      text        NOT NULL,
    status        text        NOT NULL,
    budget        jsonb       NOT NULL,
    starts_at     timestamptz,
    ends_at       timestamptz,
    participants  jsonb       NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       bigint      NOT NULL,
    last_event_id uuid        NOT NULL
);
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
);
CREATE INDEX partner_campaigns_campaign_idx ON partner_campaigns (campaign_id);

-- The `partners` projection.
CREATE TABLE partner_view
(
    id            text PRIMARY KEY,
    name          text        NOT NULL,
    kind          text        NOT NULL,
    profile       text        NOT NULL,
    email         text,
    status        text        NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    version       bigint      NOT NULL,
    last_event_id uuid        NOT NULL
);
CREATE INDEX partner_view_kind_idx ON partner_view (kind, id);
CREATE INDEX partner_view_status_idx ON partner_view (status, id);
