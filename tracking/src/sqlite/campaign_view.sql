-- A campaign as the view knows it: its status (NULL if unknown) and the partners taking
-- part, as a JSON array of ids.
-- $1 campaign id.
SELECT (SELECT status FROM tracking_campaigns WHERE campaign_id = $1) AS status,
       (SELECT json_group_array(partner_id ORDER BY partner_id)
        FROM tracking_participants
        WHERE campaign_id = $1 AND taking_part) AS participants
