-- A page of partners, oldest first (ids are UUIDv7), after the cursor $4.
-- $1 kind, $2 status, $3 a LIKE pattern on the name, case-insensitive (NULL: any),
-- $5 page size (+1 to know whether more follow).
-- $6 a partner id: that partner only (NULL: any).
SELECT row_to_json(v)::jsonb
FROM partner_view v
WHERE ($1::text IS NULL OR kind = $1)
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR name ILIKE $3 ESCAPE '\')
  AND ($4::text IS NULL OR id > $4)
  AND ($6::text IS NULL OR id = $6)
ORDER BY id
LIMIT $5
