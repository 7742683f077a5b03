-- The projector's checkpoint, locked for the rest of the transaction that applies a
-- batch: the fence that keeps a stale leader or a rebuild's swap from interleaving.
SELECT transaction_id::text::bigint AS transaction_id, position
FROM projector_checkpoints
WHERE name = $1
    FOR UPDATE
