-- Appends one command's events to a stream, and (when the command carried an
-- Idempotency-Key) remembers the key, in ONE statement: one round trip, one implicit
-- transaction, so the events and the key are committed together or not at all.
--
-- $1 aggregate_type   $2 aggregate_id
-- $3 sequences        $4 event_types   $5 event_versions   $6 payloads (JSON text)
-- $7 metadata (JSON text, shared by the command's events)  $8 event_ids
-- $9 idempotency_key (NULL: none)   $10 request_hash   $11 first_sequence   $12 last_sequence
--
-- A concurrent writer that appended the same sequence first makes this fail on
-- events_pkey (optimistic concurrency); a concurrent retry of the same idempotent
-- request makes it fail on command_idempotency_pkey.
WITH appended AS (
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                        payload, metadata, event_id)
    SELECT $1, $2, e.sequence, e.event_type, e.event_version, e.payload::json, $7::json, e.event_id
    FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $8::uuid[])
             WITH ORDINALITY AS e (sequence, event_type, event_version, payload, event_id, n)
    -- positions are drawn in this order, so they grow with the sequence
    ORDER BY e.n
    RETURNING event_id, sequence, position, recorded_at
),
remembered AS (
    INSERT INTO command_idempotency (idempotency_key, request_hash, aggregate_type, aggregate_id,
                                     first_sequence, last_sequence)
    SELECT $9, $10, $1, $2, $11, $12
    WHERE $9::text IS NOT NULL
)
SELECT event_id, sequence, position, recorded_at
FROM appended
ORDER BY sequence
