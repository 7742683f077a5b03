-- An operator asks a failed projector to try its event again. No row: it had not failed.
UPDATE projector_checkpoints
SET failed_event_id = NULL,
    failed_position = NULL,
    last_error      = NULL,
    failed_at       = NULL
WHERE name = ?1
  AND failed_event_id IS NOT NULL
RETURNING name
