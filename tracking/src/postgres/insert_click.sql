-- Records a click; returns nothing when a click with the same external id exists
-- (the caller then answers with that one).
-- $1 id, $2 campaign id, $3 partner id, $4 occurred at, $5 external id (or NULL).
INSERT INTO tracking.clicks (click_id, campaign_id, partner_id, occurred_at, external_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (campaign_id, external_id) DO NOTHING
RETURNING click_id, campaign_id, partner_id, occurred_at, recorded_at, external_id
