-- A campaign's conversions per currency, all partners together (currency NULL:
-- conversions without a value). Sums are exact (numeric) and returned as text.
-- $1 campaign id.
SELECT value_currency, count(*) AS conversions, sum(value_amount)::text AS value
FROM tracking.conversions
WHERE campaign_id = $1
GROUP BY value_currency
