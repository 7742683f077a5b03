-- Sets a campaign's status, unless an event later in its stream already set it (an
-- older event arriving late changes nothing).
-- $1 campaign id, $2 status, $3 the event's aggregate sequence.
INSERT INTO tracking.campaigns AS campaign (campaign_id, status, status_sequence)
VALUES ($1, $2, $3)
ON CONFLICT (campaign_id) DO UPDATE
    SET status          = excluded.status,
        status_sequence = excluded.status_sequence,
        updated_at      = now()
    WHERE campaign.status_sequence < excluded.status_sequence
