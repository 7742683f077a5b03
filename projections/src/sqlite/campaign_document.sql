-- A campaign_view row as a JSON document whose fields are the columns (what
-- Postgres's row_to_json gives), for the queries that read the view (it replaces
-- their placeholder). JSON columns are embedded as JSON, not as strings.
json_object('id', id, 'name', name, 'brand_id', brand_id, 'status', status,
            'budget', json(budget), 'starts_at', starts_at, 'ends_at', ends_at,
            'participants', json(participants), 'created_at', created_at,
            'updated_at', updated_at, 'version', version, 'last_event_id', last_event_id)
