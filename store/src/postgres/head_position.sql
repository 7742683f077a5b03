-- The highest position in the log (0 when empty), committed or not: what "the head"
-- means to an operator watching lag.
SELECT coalesce(max(position), 0)
FROM events
