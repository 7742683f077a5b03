-- Whether committed events lie after a cursor ($1 transaction_id as text, $2 position).
--
-- Not `EXISTS (SELECT 1 FROM events WHERE ...)`: for EXISTS the planner expects an
-- early match and scans the heap from its start, but the events after a reader's
-- cursor are the newest, at the heap's end, so that plan read the whole log on every
-- call (6 ms at 20k events, measured; it grows with the log). The first event in
-- commit order, found by walking events_commit_order_idx, is one index probe.
SELECT (SELECT position
        FROM events
        WHERE (transaction_id, position) > ($1::text::xid8, $2)
        ORDER BY transaction_id, position
        LIMIT 1) IS NOT NULL
