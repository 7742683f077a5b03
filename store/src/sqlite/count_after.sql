-- How many events lie after the cursor at position $1 (position order is commit
-- order on SQLite).
SELECT count(*)
FROM events
WHERE position > $1
