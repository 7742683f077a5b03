-- Removes the partner -> campaign links of the campaigns a batch touched (?1, a JSON
-- array of ids), before their current links are inserted again
-- (insert_participations.sql).
DELETE
FROM {table}
WHERE campaign_id IN (SELECT value FROM json_each(?1))
