-- Writes a batch's partner rows in one statement: $1 is a JSON array of rows whose
-- fields are the table's columns.
INSERT INTO {table}
SELECT *
FROM jsonb_populate_recordset(NULL::{table}, $1)
ON CONFLICT (id) DO UPDATE SET name          = excluded.name,
                               kind          = excluded.kind,
                               profile       = excluded.profile,
                               email         = excluded.email,
                               status        = excluded.status,
                               updated_at    = excluded.updated_at,
                               version       = excluded.version,
                               last_event_id = excluded.last_event_id
