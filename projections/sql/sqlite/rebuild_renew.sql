-- The rebuild owning projector ?1's claim (?2) records how far it got (?3, a global
-- position; NULL: unchanged) and renews its lease until now + ?4, in the write
-- transaction that writes its next batch. No row: its claim expired and another
-- rebuild took it over, and this one must stop without writing.
UPDATE projector_checkpoints
SET rebuild_position = coalesce(?3, rebuild_position),
    rebuild_until    = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?4)
WHERE name = ?1
  AND rebuild_owner = ?2
RETURNING name
