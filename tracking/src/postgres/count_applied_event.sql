-- One more event applied by the subscription, and which one was last.
-- $1 subscription, $2 event id, $3 type, $4 subject.
INSERT INTO tracking.consumer_stats AS stats
    (subscription, events_applied, last_event_id, last_event_type, last_event_subject, last_applied_at)
VALUES ($1, 1, $2, $3, $4, now())
ON CONFLICT (subscription) DO UPDATE
    SET events_applied     = stats.events_applied + 1,
        last_event_id      = excluded.last_event_id,
        last_event_type    = excluded.last_event_type,
        last_event_subject = excluded.last_event_subject,
        last_applied_at    = excluded.last_applied_at
