-- Removes the partner -> campaign links of the campaigns a batch touched ($1), before
-- their current links are inserted again (insert_participations.sql).
DELETE
FROM {table}
WHERE campaign_id = ANY ($1)
