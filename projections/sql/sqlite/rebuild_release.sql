-- The rebuild owning projector ?1's claim (?2) is over (done or failed): the claim
-- is released, if it is still this rebuild's.
UPDATE projector_checkpoints
SET rebuild_started_at = NULL,
    rebuild_position   = NULL,
    rebuild_owner      = NULL,
    rebuild_until      = NULL
WHERE name = ?1
  AND rebuild_owner = ?2
