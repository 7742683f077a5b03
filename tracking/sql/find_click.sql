-- The click recorded with an external id.
-- $1 external id.
SELECT click_id, campaign_id, partner_id, occurred_at, recorded_at, external_id
FROM tracking.clicks
WHERE external_id = $1
