-- A rebuild of projector $1 starts, owned by $2 (it holds the lease `rebuild:<name>`):
-- the status shows it rebuilding, from position 0.
INSERT INTO projector_checkpoints (name, rebuild_started_at, rebuild_position, rebuild_owner)
VALUES ($1, now(), 0, $2)
ON CONFLICT (name) DO UPDATE SET rebuild_started_at = now(),
                                 rebuild_position   = 0,
                                 rebuild_owner      = excluded.rebuild_owner
