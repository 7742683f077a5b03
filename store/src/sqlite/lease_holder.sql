-- Who holds lease $1 now: its holder, unless it expired ($2: now, epoch ms).
SELECT holder
FROM leases
WHERE key = $1
  AND expires_at >= $2
