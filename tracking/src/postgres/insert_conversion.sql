-- Records a conversion; returns nothing when a conversion with the same external id
-- exists (the caller then answers with that one).
-- $1 id, $2 campaign id, $3 partner id, $4 occurred at, $5 external id (or NULL),
-- $6 value amount as exact decimal text (or NULL), $7 value currency (or NULL).
INSERT INTO tracking.conversions
    (conversion_id, campaign_id, partner_id, occurred_at, external_id, value_amount, value_currency)
VALUES ($1, $2, $3, $4, $5, $6::text::numeric, $7)
ON CONFLICT (campaign_id, external_id) DO NOTHING
RETURNING conversion_id, campaign_id, partner_id, occurred_at, recorded_at, external_id,
          value_amount::text AS value_amount, value_currency
