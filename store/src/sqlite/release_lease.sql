-- Gives lease $1 up, if holder $2 still has it.
DELETE
FROM leases
WHERE key = $1
  AND holder = $2
