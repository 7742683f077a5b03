-- Why the rebuild of projector ?1 failed (?2), for the status.
UPDATE projector_checkpoints
SET last_error = ?2
WHERE name = ?1
