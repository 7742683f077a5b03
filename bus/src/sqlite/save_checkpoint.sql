-- Moves the relay's checkpoint forward, never back: a relay whose lease was taken over
-- (and that has not noticed yet) cannot move its successor's newer cursor back.
-- Everything up to either cursor was published by someone.
-- $1 the relay's name, $2 transaction_id and $3 position of the cursor.
INSERT INTO relay_checkpoints (relay, transaction_id, position, updated_at)
VALUES ($1, $2, $3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (relay) DO UPDATE
    SET transaction_id = excluded.transaction_id,
        position       = excluded.position,
        updated_at     = excluded.updated_at
    WHERE (relay_checkpoints.transaction_id, relay_checkpoints.position)
              < (excluded.transaction_id, excluded.position)
