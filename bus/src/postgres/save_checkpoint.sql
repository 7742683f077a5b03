-- Moves the relay's checkpoint forward, never back: if a relay that lost its lock (and
-- has not noticed yet) saves an older cursor after its successor saved a newer one, the
-- newer one stays. Everything up to either cursor was published by someone.
-- $1 the relay's name, $2 transaction_id and $3 position of the cursor.
INSERT INTO relay_checkpoints AS checkpoint (relay, transaction_id, position, updated_at)
VALUES ($1, $2, $3, now())
ON CONFLICT (relay) DO UPDATE
    SET transaction_id = excluded.transaction_id,
        position       = excluded.position,
        updated_at     = excluded.updated_at
    WHERE (checkpoint.transaction_id, checkpoint.position) < (excluded.transaction_id, excluded.position)
