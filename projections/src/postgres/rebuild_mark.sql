-- A rebuild of projector $1 starts (under its advisory lock): shown in the status
-- until rebuild_unmark.sql.
INSERT INTO projector_checkpoints (name, rebuild_started_at, rebuild_position)
VALUES ($1, now(), 0)
ON CONFLICT (name) DO UPDATE SET rebuild_started_at = now(),
                                 rebuild_position   = 0
