-- Writes a batch's campaign rows in one statement: ?1 is a JSON array of rows whose
-- fields are the table's columns. (`WHERE true`: SQLite's parser needs a WHERE
-- between a SELECT and ON CONFLICT.)
INSERT INTO {table} (id, name, brand_id, status, budget, starts_at, ends_at, participants,
                     created_at, updated_at, version, last_event_id)
SELECT value ->> 'id',
       value ->> 'name',
       value ->> 'brand_id',
       value ->> 'status',
       value -> 'budget',
       value ->> 'starts_at',
       value ->> 'ends_at',
       value -> 'participants',
       value ->> 'created_at',
       value ->> 'updated_at',
       value ->> 'version',
       value ->> 'last_event_id'
FROM json_each(?1)
WHERE true
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
