-- The rebuild of projector $1 is over: the status stops showing it. $2: the rebuild
-- that ends (only its own mark is cleared), or NULL for the mark of a rebuild that
-- died (no one holds its lease any more).
UPDATE projector_checkpoints
SET rebuild_started_at = NULL,
    rebuild_position   = NULL,
    rebuild_owner      = NULL
WHERE name = $1
  AND ($2::text IS NULL OR rebuild_owner = $2)
