-- The projector's checkpoint, read at the start of the write transaction that
-- applies a batch. The transaction began IMMEDIATE, so it holds SQLite's write lock:
-- nothing moves the checkpoint before it commits, and a batch read from another
-- checkpoint (a stale process, a rebuild's swap) is refused. SQLite positions are in
-- commit order, so the cursor is the position alone (both halves of the pair).
SELECT position AS transaction_id, position
FROM projector_checkpoints
WHERE name = ?1
