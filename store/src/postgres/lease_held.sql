-- Whether any session holds the advisory lock of lease $1 (taken as
-- pg_try_advisory_lock(hashtextextended('alpes:' || $1, 0)), postgres/mod.rs). Reads
-- pg_locks instead of trying the lock, so that looking never takes it. A one-bigint
-- advisory key is shown split in two: its high 32 bits as classid, its low 32 bits as
-- objid.
WITH lease AS (SELECT hashtextextended('alpes:' || $1, 0) AS key)
SELECT EXISTS (SELECT 1
               FROM pg_locks, lease
               WHERE locktype = 'advisory'
                 AND granted
                 AND objsubid = 1
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND classid::text::bigint = (lease.key >> 32) & 4294967295
                 AND objid::text::bigint = lease.key & 4294967295)
