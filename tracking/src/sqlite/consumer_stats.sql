-- The subscription's counters and last event (no row before its first event).
-- $1 subscription.
SELECT events_applied, duplicates_ignored, last_event_id, last_event_type, last_event_subject, last_applied_at
FROM tracking_consumer_stats
WHERE subscription = $1
