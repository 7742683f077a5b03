-- The rebuild of projector $1 is over (done, failed, or crashed long ago).
UPDATE projector_checkpoints
SET rebuild_started_at = NULL,
    rebuild_position   = NULL
WHERE name = $1
