-- The current partner -> campaign links of the campaigns a batch touched: $1 is a
-- JSON array of rows whose fields are the table's columns.
INSERT INTO {table}
SELECT *
FROM jsonb_populate_recordset(NULL::{table}, $1)
