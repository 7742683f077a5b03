-- The events an operator skipped on projector $1's view (a rebuild skips them too).
SELECT skipped_event_ids
FROM projector_checkpoints
WHERE name = $1
