-- Stores a command's outcome unless it has one; a command that came from a topic
-- (accepted elsewhere) is inserted with it. No row: an earlier outcome was kept.
INSERT INTO commands (command_id, command_type, payload, queued, status, submitted_at, completed_at, result, issued_by)
VALUES (?1, ?2, ?3, 0, ?4, ?5, ?5, ?6, ?7)
ON CONFLICT (command_id) DO UPDATE
    SET status = excluded.status, completed_at = excluded.completed_at, result = excluded.result
    WHERE commands.status = 'pending'
