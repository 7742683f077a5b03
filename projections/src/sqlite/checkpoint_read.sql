SELECT position AS transaction_id,
       position,
       events_applied,
       failed_event_id,
       failed_position,
       last_error,
       rebuild_started_at,
       rebuild_position
FROM projector_checkpoints
WHERE name = ?1
