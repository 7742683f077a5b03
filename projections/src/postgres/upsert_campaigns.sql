-- Writes a batch's campaign rows in one statement: $1 is a JSON array of rows whose
-- fields are the table's columns.
INSERT INTO {table}
SELECT *
FROM jsonb_populate_recordset(NULL::{table}, $1)
ON CONFLICT (id) DO UPDATE SET name          = excluded.name,
                               brand_id      = excluded.brand_id,
                               status        = excluded.status,
                               budget        = excluded.budget,
                               starts_at     = excluded.starts_at,
                               ends_at       = excluded.ends_at,
                               participants  = excluded.participants,
                               updated_at    = excluded.updated_at,
                               version       = excluded.version,
                               last_event_id = excluded.last_event_id
