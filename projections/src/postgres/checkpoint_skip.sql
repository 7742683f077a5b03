-- An operator tells a failed projector to skip its event: the checkpoint moves onto it
-- (the failed event is the next one after the checkpoint; the condition on the order
-- keeps a stale failure record from moving the checkpoint back) and the skip is
-- recorded. No row: it had not failed.
UPDATE projector_checkpoints c
SET transaction_id    = e.transaction_id,
    position          = e.position,
    skipped_event_ids = c.skipped_event_ids || e.event_id,
    failed_event_id   = NULL,
    failed_position   = NULL,
    last_error        = NULL,
    failed_at         = NULL,
    updated_at        = now()
FROM events e
WHERE c.name = $1
  AND e.event_id = c.failed_event_id
  AND (e.transaction_id, e.position) > (c.transaction_id, c.position)
RETURNING e.event_id
