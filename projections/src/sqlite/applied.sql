-- Whether projector ?1 has applied the event at global position ?2: NULL when no
-- event has that position. A projector that never ran (no checkpoint row yet) has
-- applied nothing.
SELECT e.position <= coalesce(c.position, 0)
FROM events e
         LEFT JOIN projector_checkpoints c ON c.name = ?1
WHERE e.position = ?2
