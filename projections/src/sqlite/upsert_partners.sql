-- Writes a batch's partner rows in one statement: ?1 is a JSON array of rows whose
-- fields are the table's columns (name_folded included). (`WHERE true`: SQLite's
-- parser needs a WHERE between a SELECT and ON CONFLICT.)
INSERT INTO {table} (id, name, name_folded, kind, profile, email, status, created_at,
                     updated_at, version, last_event_id)
SELECT value ->> 'id',
       value ->> 'name',
       value ->> 'name_folded',
       value ->> 'kind',
       value ->> 'profile',
       value ->> 'email',
       value ->> 'status',
       value ->> 'created_at',
       value ->> 'updated_at',
       value ->> 'version',
       value ->> 'last_event_id'
FROM json_each(?1)
WHERE true
ON CONFLICT (id) DO UPDATE SET name          = excluded.name,
                               name_folded   = excluded.name_folded,
                               kind          = excluded.kind,
                               profile       = excluded.profile,
                               email         = excluded.email,
                               status        = excluded.status,
                               updated_at    = excluded.updated_at,
                               version       = excluded.version,
                               last_event_id = excluded.last_event_id
