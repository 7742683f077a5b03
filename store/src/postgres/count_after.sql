-- How many committed events lie after a cursor ($1 transaction_id as text,
-- $2 position): a reader's lag. Through events_commit_order_idx when the lag is small.
SELECT count(*)
FROM events
WHERE (transaction_id, position) > ($1::text::xid8, $2)
