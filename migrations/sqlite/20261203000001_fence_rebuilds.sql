-- The rebuild that owns a view's rebuild (its lease holder, `rebuild:<name>`): every
-- write transaction of a rebuild checks it is still the owner, under the checkpoint
-- row's lock, so a rebuild whose lease was taken over (it stalled past the lease's
-- expiry) writes nothing more, not even between its lease check and its commit.
ALTER TABLE projector_checkpoints ADD COLUMN rebuild_owner text;
