-- A page of partners, oldest first (ids are UUIDv7), after the cursor ?4.
-- ?1 kind, ?2 status, ?3 a LIKE pattern in lowercase, matched against the lowercased
-- name (name_folded: SQLite folds ASCII only), ?5 page size (+1 to know whether more
-- follow). After SELECT: the row document of partner_document.sql.
-- ?6 a partner id: that partner only (NULL: any).
SELECT {document}
FROM partner_view
WHERE (?1 IS NULL OR kind = ?1)
  AND (?2 IS NULL OR status = ?2)
  AND (?3 IS NULL OR name_folded LIKE ?3 ESCAPE '\')
  AND (?4 IS NULL OR id > ?4)
  AND (?6 IS NULL OR id = ?6)
ORDER BY id
LIMIT ?5
