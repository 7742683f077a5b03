-- How far the rebuild of projector $1 got ($2, a global position), in the
-- transaction that wrote that batch into the shadow tables.
UPDATE projector_checkpoints
SET rebuild_position = $2
WHERE name = $1
