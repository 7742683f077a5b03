-- Clears the "rebuilding" mark a crashed rebuild of projector ?1 left behind: its
-- lease is no longer renewed, so it expires; a running rebuild's does not.
UPDATE projector_checkpoints
SET rebuild_started_at = NULL,
    rebuild_position   = NULL,
    rebuild_owner      = NULL,
    rebuild_until      = NULL
WHERE name = ?1
  AND rebuild_started_at IS NOT NULL
  AND (rebuild_until IS NULL OR rebuild_until <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
