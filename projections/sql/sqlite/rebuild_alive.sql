-- Whether a rebuild of projector ?1 holds an unexpired lease (rebuild_claim.sql).
SELECT coalesce(rebuild_owner IS NOT NULL AND rebuild_until > strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 0)
FROM projector_checkpoints
WHERE name = ?1
