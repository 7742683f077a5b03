-- The projector's checkpoint row, at the start of the log if it has none yet.
INSERT INTO projector_checkpoints (name)
VALUES ($1)
ON CONFLICT DO NOTHING
