-- The statements that created table ?1 and its explicit indexes (the primary key's
-- automatic index has no SQL and comes with the table), table first: a rebuild
-- copies them for the shadow table, so the shadow cannot drift from the migrations.
SELECT type, name, sql
FROM sqlite_schema
WHERE tbl_name = ?1
  AND type IN ('table', 'index')
  AND sql IS NOT NULL
ORDER BY type = 'index', name
