-- An operator tells a failed projector to skip its event: the checkpoint moves onto it
-- (the failed event is the next one after the checkpoint; the condition on the order
-- keeps a stale failure record from moving the checkpoint back) and the skip is
-- recorded. No row: it had not failed. (RETURNING cannot name the joined events
-- table: the skipped id is read back as the last one recorded.)
UPDATE projector_checkpoints AS c
SET position          = e.position,
    skipped_event_ids = json_insert(c.skipped_event_ids, '$[#]', e.event_id),
    failed_event_id   = NULL,
    failed_position   = NULL,
    last_error        = NULL,
    failed_at         = NULL,
    updated_at        = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM events AS e
WHERE c.name = ?1
  AND e.event_id = c.failed_event_id
  AND e.position > c.position
RETURNING skipped_event_ids ->> '$[#-1]' AS event_id
