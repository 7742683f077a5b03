-- The campaigns that list partner $1 as participant.
SELECT campaign_id AS id, campaign_name AS name, campaign_status AS status
FROM partner_campaigns
WHERE partner_id = $1
ORDER BY campaign_id
