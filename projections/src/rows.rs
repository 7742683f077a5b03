//! Moving view rows between Postgres and Rust as JSON documents: one statement
//! loads all the rows a batch touches, one writes them back.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::PgConnection;
use std::collections::HashMap;

/// A view row with an `id` column.
pub trait Row {
    fn id(&self) -> &str;
}

impl Row for crate::campaigns::CampaignView {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Row for crate::partners::PartnerView {
    fn id(&self) -> &str {
        &self.id
    }
}

/// The rows of `table` with these ids, by id.
pub async fn load_rows<R: DeserializeOwned + Row>(
    conn: &mut PgConnection,
    table: &str,
    ids: &[&str],
) -> Result<HashMap<String, R>, sqlx::Error> {
    let documents: Vec<serde_json::Value> =
        sqlx::query_scalar(&include_str!("../sql/load_rows.sql").replace("{table}", table))
            .bind(ids)
            .fetch_all(&mut *conn)
            .await?;
    documents
        .into_iter()
        .map(|document| {
            let row: R = serde_json::from_value(document).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((row.id().to_owned(), row))
        })
        .collect()
}

/// Runs `sql` (with `{table}` replaced) with the rows as one JSON array parameter.
pub async fn execute_with_rows<R: Serialize>(
    conn: &mut PgConnection,
    sql: &str,
    table: &str,
    rows: &[R],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows = serde_json::to_value(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(&sql.replace("{table}", table))
        .bind(rows)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
