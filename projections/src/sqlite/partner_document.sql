-- A partner_view row as a JSON document whose fields are the columns (what
-- Postgres's row_to_json gives), without the search-only name_folded, for the
-- queries that read the view (it replaces their placeholder).
json_object('id', id, 'name', name, 'kind', kind, 'profile', profile, 'email', email,
            'status', status, 'created_at', created_at, 'updated_at', updated_at,
            'version', version, 'last_event_id', last_event_id)
