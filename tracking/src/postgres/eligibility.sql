-- What the view knows about a (campaign, partner) pair, for deciding whether a click or
-- conversion may be recorded. Each column is NULL when the view knows nothing.
-- $1 campaign id, $2 partner id.
SELECT (SELECT status FROM tracking.campaigns WHERE campaign_id = $1)                       AS campaign_status,
       (SELECT taking_part FROM tracking.participants WHERE campaign_id = $1 AND partner_id = $2) AS taking_part,
       (SELECT status FROM tracking.partners WHERE partner_id = $2)                         AS partner_status
