-- In each write transaction of the rebuild of projector $1 owned by $2: checks it still
-- owns it, locking the checkpoint row until the transaction ends (a rebuild that took
-- it over waits, then finds itself the owner), and records how far it got ($3, a
-- global position; NULL: unchanged). No row: another rebuild owns it now.
UPDATE projector_checkpoints
SET rebuild_position = coalesce($3, rebuild_position)
WHERE name = $1
  AND rebuild_owner = $2
RETURNING name
