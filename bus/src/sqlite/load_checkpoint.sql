-- The relay's checkpoint: the last event whose receipt it has (and every event before
-- it in commit order). No row: nothing published yet. On SQLite both halves of the
-- cursor are the position (see store/src/sqlite/read_log.sql).
-- $1 the relay's name.
SELECT transaction_id, position
FROM relay_checkpoints
WHERE relay = $1
