-- The current rows of a view for a batch's aggregates, as JSON documents.
-- {table} is the live table or its shadow copy.
SELECT row_to_json(v)::jsonb
FROM {table} v
WHERE id = ANY ($1)
