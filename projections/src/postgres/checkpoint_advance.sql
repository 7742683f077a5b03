-- Moves the checkpoint to the last event of an applied batch ($2, $3) and counts the
-- batch ($4), in the transaction that wrote the batch's effects.
UPDATE projector_checkpoints
SET transaction_id = $2::text::xid8,
    position       = $3,
    events_applied = events_applied + $4,
    updated_at     = now()
WHERE name = $1
