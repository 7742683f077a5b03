-- A campaign's conversions per partner and currency (currency NULL: conversions without
-- a value). Sums are exact (numeric) and returned as text.
-- $1 campaign id.
SELECT partner_id, value_currency, count(*) AS conversions, sum(value_amount)::text AS value
FROM tracking.conversions
WHERE campaign_id = $1
GROUP BY partner_id, value_currency
