-- Records that a partner joined (true) or left (false) a campaign, unless a later event
-- of the campaign's stream already decided.
-- $1 campaign id, $2 partner id, $3 taking part, $4 the event's aggregate sequence.
INSERT INTO tracking.participants AS participant (campaign_id, partner_id, taking_part, sequence)
VALUES ($1, $2, $3, $4)
ON CONFLICT (campaign_id, partner_id) DO UPDATE
    SET taking_part = excluded.taking_part,
        sequence    = excluded.sequence,
        updated_at  = now()
    WHERE participant.sequence < excluded.sequence
