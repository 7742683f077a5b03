-- The highest position in the log (0 when empty).
SELECT coalesce(max(position), 0)
FROM events
