-- A process that runs projector ?1 says it is alive until now + ?2 (a date modifier
-- such as '+10.000 seconds'). SQLite has no session locks another process could look
-- at: this lease is what tells a process that runs no projector (the CLI) whether
-- one runs elsewhere.
UPDATE projector_checkpoints
SET leader_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?2)
WHERE name = ?1
