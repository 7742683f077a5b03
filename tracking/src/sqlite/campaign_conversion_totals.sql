-- A campaign's conversions per currency, all partners together (currency NULL:
-- conversions without a value); summed as in campaign_conversions.sql.
-- $1 campaign id.
SELECT value_currency,
       count(*)                          AS conversions,
       sum(value_minor / 1000000000)     AS value_high,
       sum(value_minor % 1000000000)     AS value_low
FROM tracking_conversions
WHERE campaign_id = $1
GROUP BY value_currency
