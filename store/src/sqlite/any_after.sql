-- Whether events lie after the cursor at position $1.
SELECT EXISTS (SELECT 1 FROM events WHERE position > $1)
