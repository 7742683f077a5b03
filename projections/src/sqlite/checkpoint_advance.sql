-- Moves the checkpoint to the last event of an applied batch (?2) and counts the
-- batch (?3), in the write transaction that wrote the batch's effects.
UPDATE projector_checkpoints
SET position       = ?2,
    events_applied = events_applied + ?3,
    updated_at     = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE name = ?1
