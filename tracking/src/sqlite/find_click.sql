-- The click recorded with an external id.
-- $1 external id, $2 campaign id (external ids are unique per campaign).
SELECT click_id, campaign_id, partner_id, occurred_at, recorded_at, external_id
FROM tracking_clicks
WHERE external_id = $1
  AND campaign_id = $2
