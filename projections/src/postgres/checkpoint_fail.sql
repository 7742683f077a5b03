-- The projector stops at an event it cannot apply, and says so; only if its
-- checkpoint is still where it was ($5, $6): a rebuild's swap or another leader may
-- have moved it meanwhile, and the event may then be behind it.
UPDATE projector_checkpoints
SET failed_event_id = $2,
    failed_position = $3,
    last_error      = $4,
    failed_at       = now()
WHERE name = $1
  AND (transaction_id, position) = ($5::text::xid8, $6)
