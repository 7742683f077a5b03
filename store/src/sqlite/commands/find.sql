SELECT command_id, command_type, payload, status, submitted_at, completed_at, result, request_hash, issued_by
FROM commands
WHERE command_id = ?1
