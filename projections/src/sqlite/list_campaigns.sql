-- A page of campaigns, oldest first (ids are UUIDv7), after the cursor ?3.
-- ?1 brand_id, ?2 status (NULL: any), ?4 page size (+1 to know whether more follow),
-- ?5 a partner id: only the campaigns that list it as participant (NULL: any).
-- After SELECT: the row document of campaign_document.sql.
SELECT {document}
FROM campaign_view
WHERE (?1 IS NULL OR brand_id = ?1)
  AND (?2 IS NULL OR status = ?2)
  AND (?3 IS NULL OR id > ?3)
  AND (?5 IS NULL OR id IN (SELECT campaign_id FROM partner_campaigns WHERE partner_id = ?5))
ORDER BY id
LIMIT ?4
