-- The conversion recorded with an external id.
-- $1 external id, $2 campaign id (external ids are unique per campaign).
SELECT conversion_id, campaign_id, partner_id, occurred_at, recorded_at, external_id,
       value_amount::text AS value_amount, value_currency
FROM tracking.conversions
WHERE external_id = $1
  AND campaign_id = $2
