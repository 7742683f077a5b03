-- Records a conversion; returns nothing when a conversion with the same external id
-- exists (the caller then answers with that one).
-- $1 id, $2 campaign id, $3 partner id, $4 occurred at, $5 recorded at,
-- $6 external id (or NULL), $7 value amount as exact decimal text, $8 the same in
-- integer minor units, $9 value currency (the three NULL without a value).
INSERT INTO tracking_conversions
    (conversion_id, campaign_id, partner_id, occurred_at, recorded_at, external_id,
     value_amount, value_minor, value_currency)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (campaign_id, external_id) DO NOTHING
RETURNING conversion_id, campaign_id, partner_id, occurred_at, recorded_at, external_id,
          value_amount, value_currency
