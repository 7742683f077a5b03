-- Extends the lease if this holder still has it (even expired: nobody took it over
-- meanwhile, so nobody else published). No row changed: another relay took it.
-- $1 the relay's name, $2 this holder's id, $3 new expiry (epoch ms).
UPDATE relay_leases
SET expires_at = $3
WHERE relay = $1
  AND holder = $2
