-- The swap: the rebuilt view is live, and its checkpoint is where the rebuild
-- stopped ($2, $3), having applied $4 events; a failure of the old view is gone with it.
UPDATE projector_checkpoints
SET transaction_id  = $2::text::xid8,
    position        = $3,
    events_applied  = $4,
    updated_at      = now(),
    failed_event_id = NULL,
    failed_position = NULL,
    last_error      = NULL,
    failed_at       = NULL
WHERE name = $1
