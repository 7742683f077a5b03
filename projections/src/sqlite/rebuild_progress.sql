-- In each write transaction of the rebuild of projector ?1 owned by ?2 (which holds
-- the database's write lock): checks it still owns it, and records how far it got (?3,
-- a global position; NULL: unchanged). No row: another rebuild owns it now.
UPDATE projector_checkpoints
SET rebuild_position = coalesce(?3, rebuild_position)
WHERE name = ?1
  AND rebuild_owner = ?2
RETURNING name
