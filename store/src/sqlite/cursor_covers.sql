-- Whether a reader at position $1 has read the event at position $2 (commit order is
-- position order). NULL when no event has that position.
SELECT position <= $1
FROM events
WHERE position = $2
