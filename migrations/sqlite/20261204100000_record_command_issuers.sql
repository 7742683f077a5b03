-- Who issued each command (the principal of the request that submitted it, as JSON:
-- `sub`, `role`, and its `brand_id` or `partner_id`): the events it causes record it,
-- its run is allowed what that principal is, and `GET /commands/{id}` shows it to them.
-- NULL for the commands accepted before authentication existed, and for those accepted
-- elsewhere whose message named nobody.
ALTER TABLE commands ADD COLUMN issued_by TEXT;
