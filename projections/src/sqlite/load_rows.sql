-- The current rows of a view for a batch's aggregates, as JSON documents.
-- The table placeholder is the live table or its shadow copy, the one after SELECT
-- the view's row document (campaign_document.sql, partner_document.sql). (Not named
-- here: a placeholder is replaced in comments too.) ?1 is a JSON array of ids.
SELECT {document}
FROM {table}
WHERE id IN (SELECT value FROM json_each(?1))
