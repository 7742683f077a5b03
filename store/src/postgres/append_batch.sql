-- Group commit: the appends of several concurrent commands (each to its own stream),
-- and their idempotency keys, in ONE statement: one round trip and one WAL flush for
-- the whole batch instead of one per command. All or nothing: if any command's
-- append conflicts (events_pkey or command_idempotency_pkey), the statement fails and
-- the batch's commands are appended one by one (`append_events.sql`), each getting
-- its own answer.
--
-- Events, in batch order: $1 aggregate_types $2 aggregate_ids $3 sequences
--   $4 event_types $5 event_versions $6 payloads (JSON text) $7 metadata (JSON text)
--   $8 event_ids
-- Idempotency keys, one per command that carried one: $9 keys $10 request_hashes
--   $11 aggregate_types $12 aggregate_ids $13 first_sequences $14 last_sequences
WITH appended AS (
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                        payload, metadata, event_id)
    SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version,
           e.payload::json, e.metadata::json, e.event_id
    FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::uuid[])
             WITH ORDINALITY AS e (aggregate_type, aggregate_id, sequence, event_type,
                                   event_version, payload, metadata, event_id, n)
    -- positions are drawn in this order: in stream order within each command
    ORDER BY e.n
    RETURNING event_id, sequence, position, recorded_at
),
remembered AS (
    INSERT INTO command_idempotency (idempotency_key, request_hash, aggregate_type, aggregate_id,
                                     first_sequence, last_sequence)
    SELECT k.idempotency_key, k.request_hash, k.aggregate_type, k.aggregate_id,
           k.first_sequence, k.last_sequence
    FROM unnest($9::text[], $10::bytea[], $11::text[], $12::text[], $13::bigint[], $14::bigint[])
             AS k (idempotency_key, request_hash, aggregate_type, aggregate_id,
                   first_sequence, last_sequence)
)
SELECT event_id, sequence, position, recorded_at
FROM appended
