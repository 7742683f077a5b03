-- A campaign's conversions per partner and currency (currency NULL: conversions without
-- a value). The value is summed exactly in integer minor units, split in two sums that
-- cannot overflow (an amount has at most 18 digits of minor units; each half at most 9)
-- and joined by the caller: value = value_high * 1000000000 + value_low.
-- $1 campaign id.
SELECT partner_id,
       value_currency,
       count(*)                          AS conversions,
       sum(value_minor / 1000000000)     AS value_high,
       sum(value_minor % 1000000000)     AS value_low
FROM tracking_conversions
WHERE campaign_id = $1
GROUP BY partner_id, value_currency
