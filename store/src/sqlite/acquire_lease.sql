-- Takes lease $1 for holder $2 if nobody holds it, if it expired (its holder died or
-- stopped renewing), if this holder has it already, or if it is held by $5, a holder
-- whose process is known to have died (NULL: none). One row changed: the lease is ours
-- until $3; none: another holder has it.
-- $1 key, $2 holder, $3 expiry (epoch ms), $4 now (epoch ms), $5 a dead holder or NULL.
INSERT INTO leases (key, holder, expires_at)
VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE
    SET holder     = excluded.holder,
        expires_at = excluded.expires_at
    WHERE leases.holder = excluded.holder
       OR leases.expires_at < $4
       OR leases.holder = $5
