-- Whether a reader at cursor ($1 transaction_id, $2 position) has read the event at
-- global position $3. NULL when no event has that position.
SELECT (transaction_id, position) <= ($1::text::xid8, $2)
FROM events
WHERE position = $3
