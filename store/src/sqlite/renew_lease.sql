-- Extends lease $1 of holder $2 until $3 (epoch ms). No row changed: the lease is not
-- this holder's any more (it expired and another took it over).
UPDATE leases
SET expires_at = $3
WHERE key = $1
  AND holder = $2
