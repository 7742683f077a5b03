-- How far the rebuild of projector ?1 got: global position ?2.
UPDATE projector_checkpoints
SET rebuild_position = ?2
WHERE name = ?1
