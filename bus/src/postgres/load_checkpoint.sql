-- The relay's checkpoint: the last event whose send receipt it has (and every event
-- before it in commit order). No row: nothing published yet.
-- $1 the relay's name.
SELECT transaction_id, position
FROM relay_checkpoints
WHERE relay = $1
