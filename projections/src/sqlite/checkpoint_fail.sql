-- The projector stops at an event it cannot apply, and says so; only if its
-- checkpoint is still where it was (?5): a rebuild's swap may have moved it meanwhile,
-- and the event may then be behind it.
UPDATE projector_checkpoints
SET failed_event_id = ?2,
    failed_position = ?3,
    last_error      = ?4,
    failed_at       = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE name = ?1
  AND position = ?5
