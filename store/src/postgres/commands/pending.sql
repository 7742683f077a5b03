-- The embedded queue's next commands, in the order they were accepted.
SELECT command_id, command_type, payload, status, submitted_at, completed_at, result, request_hash, issued_by
FROM commands
WHERE status = 'pending' AND queued
ORDER BY seq
LIMIT $1
