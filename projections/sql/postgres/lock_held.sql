-- Whether any session holds the advisory lock taken as
-- pg_try_advisory_lock(hashtext($1)) in this database. Reads pg_locks instead of
-- trying the lock, so that looking never takes it. A one-bigint advisory key is
-- shown split in two: its high 32 bits as classid, its low 32 bits as objid.
SELECT EXISTS (SELECT 1
               FROM pg_locks
               WHERE locktype = 'advisory'
                 AND granted
                 AND objsubid = 1
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND classid::text::bigint = (hashtext($1)::bigint >> 32) & 4294967295
                 AND objid::text::bigint = hashtext($1)::bigint & 4294967295)
