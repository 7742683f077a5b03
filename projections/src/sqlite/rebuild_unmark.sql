-- The rebuild of projector ?1 is over (done, failed, or its process died and its lease
-- expired): the status stops showing it.
UPDATE projector_checkpoints
SET rebuild_started_at = NULL,
    rebuild_position   = NULL
WHERE name = ?1
