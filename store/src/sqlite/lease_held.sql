-- Whether some holder has lease $1 and it has not expired ($2: now, epoch ms).
SELECT EXISTS (SELECT 1 FROM leases WHERE key = $1 AND expires_at >= $2)
