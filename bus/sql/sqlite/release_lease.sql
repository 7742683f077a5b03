-- Gives the lease up at a graceful stop, so a restarted relay need not wait for it to
-- expire. Only this holder's: a lease taken over meanwhile is left alone.
-- $1 the relay's name, $2 this holder's id.
DELETE FROM relay_leases
WHERE relay = $1
  AND holder = $2
