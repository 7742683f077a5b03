-- A rebuild of projector ?1 claims the view: it becomes the owner (?2, a fresh id)
-- with a lease until now + ?3 (a date modifier such as '+30.000 seconds'), unless
-- another rebuild holds an unexpired lease. SQLite has no advisory locks; this claim,
-- taken and renewed in write transactions, is what keeps two rebuilds (in one process
-- or several on the same file) from writing the same shadow tables.
-- No row: another rebuild is running.
INSERT INTO projector_checkpoints (name, rebuild_started_at, rebuild_position, rebuild_owner, rebuild_until)
VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?3))
ON CONFLICT (name) DO UPDATE SET rebuild_started_at = excluded.rebuild_started_at,
                                 rebuild_position   = 0,
                                 rebuild_owner      = excluded.rebuild_owner,
                                 rebuild_until      = excluded.rebuild_until
WHERE rebuild_owner IS NULL
   OR rebuild_until IS NULL
   OR rebuild_until <= excluded.rebuild_started_at
RETURNING name
