-- Sets a partner's status, unless a later event of its stream already set it.
-- $1 partner id, $2 status, $3 the event's aggregate sequence.
INSERT INTO tracking.partners AS partner (partner_id, status, status_sequence)
VALUES ($1, $2, $3)
ON CONFLICT (partner_id) DO UPDATE
    SET status          = excluded.status,
        status_sequence = excluded.status_sequence,
        updated_at      = now()
    WHERE partner.status_sequence < excluded.status_sequence
