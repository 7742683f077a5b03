-- A campaign as the view knows it: its status (NULL if unknown) and the partners taking
-- part.
-- $1 campaign id.
SELECT (SELECT status FROM tracking.campaigns WHERE campaign_id = $1) AS status,
       coalesce((SELECT array_agg(partner_id ORDER BY partner_id)
                 FROM tracking.participants
                 WHERE campaign_id = $1 AND taking_part), '{}') AS participants
