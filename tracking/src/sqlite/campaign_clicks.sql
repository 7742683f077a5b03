-- A campaign's clicks per partner.
-- $1 campaign id.
SELECT partner_id, count(*) AS clicks
FROM tracking_clicks
WHERE campaign_id = $1
GROUP BY partner_id
