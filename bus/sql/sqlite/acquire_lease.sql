-- Tries to become the active relay of a name: takes the lease if nobody holds it, if
-- it expired (its holder died or stopped renewing), or if this holder has it already.
-- One row changed: the lease is ours until $3; none: another relay holds it.
-- $1 the relay's name, $2 this holder's id, $3 expiry (epoch ms), $4 now (epoch ms).
INSERT INTO relay_leases (relay, holder, expires_at)
VALUES ($1, $2, $3)
ON CONFLICT (relay) DO UPDATE
    SET holder     = excluded.holder,
        expires_at = excluded.expires_at
    WHERE relay_leases.holder = excluded.holder
       OR relay_leases.expires_at < $4
