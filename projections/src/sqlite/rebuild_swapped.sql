-- The swap: the rebuilt view is live, and its checkpoint is where the rebuild
-- stopped (?2), having applied ?3 events; a failure of the old view is gone with it.
UPDATE projector_checkpoints
SET position        = ?2,
    events_applied  = ?3,
    updated_at      = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
    failed_event_id = NULL,
    failed_position = NULL,
    last_error      = NULL,
    failed_at       = NULL
WHERE name = ?1
