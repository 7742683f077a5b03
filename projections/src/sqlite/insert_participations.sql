-- The current partner -> campaign links of the campaigns a batch touched: ?1 is a
-- JSON array of rows whose fields are the table's columns.
INSERT INTO {table} (partner_id, campaign_id, campaign_name, campaign_status)
SELECT value ->> 'partner_id',
       value ->> 'campaign_id',
       value ->> 'campaign_name',
       value ->> 'campaign_status'
FROM json_each(?1)
