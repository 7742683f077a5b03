-- The commands accepted and still without an outcome, and when the oldest was accepted:
-- the command consumers' lag.
SELECT count(*) AS pending, min(submitted_at) AS oldest_submitted_at
FROM commands
WHERE status = 'pending'
