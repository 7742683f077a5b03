-- Whether some process renewed its lease on running projector ?1 (leader_renew.sql)
-- and the lease has not expired.
SELECT coalesce(leader_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0)
FROM projector_checkpoints
WHERE name = ?1
