-- The projector stops at an event it cannot apply, and says so.
UPDATE projector_checkpoints
SET failed_event_id = $2,
    failed_position = $3,
    last_error      = $4,
    failed_at       = now()
WHERE name = $1
