//! Moving view rows between Postgres and Rust as JSON documents: one statement
//! loads all the rows a batch touches, one writes them back.

use crate::projection::{decode, ApplyError};
use cqrs_es::persist::EventUpcaster;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::PgConnection;
use std::collections::HashMap;
use store::reader::RecordedEvent;

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

/// The shared first half of a batch for a view with one row per aggregate: decodes
/// the batch's events of `aggregate_type` (through the upcasters), loads the rows
/// they touch from `table` in one query, and folds each event into its row with
/// `fold` (`None`: no row yet). Returns the touched rows, to be written back.
/// An event that cannot be decoded or folded poisons the batch at its index.
pub async fn fold_batch<E, R>(
    conn: &mut PgConnection,
    table: &str,
    aggregate_type: &str,
    events: &[RecordedEvent],
    upcasters: &[Box<dyn EventUpcaster>],
    fold: impl Fn(Option<R>, &RecordedEvent, E) -> Result<R, String>,
) -> Result<HashMap<String, R>, ApplyError>
where
    E: DeserializeOwned,
    R: DeserializeOwned + Row,
{
    let mut decoded = Vec::new();
    for (index, recorded) in events.iter().enumerate() {
        if recorded.aggregate_type == aggregate_type {
            let event =
                decode::<E>(recorded, upcasters).map_err(|reason| ApplyError::Poison { index, reason })?;
            decoded.push((index, recorded, event));
        }
    }
    if decoded.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<&str> = decoded
        .iter()
        .map(|(_, recorded, _)| recorded.aggregate_id.as_str())
        .collect();
    let mut rows: HashMap<String, R> = load_rows(conn, table, &ids).await?;
    for (index, recorded, event) in decoded {
        let current = rows.remove(&recorded.aggregate_id);
        let next = fold(current, recorded, event).map_err(|reason| ApplyError::Poison {
            index,
            reason: format!("{} {}: {reason}", recorded.event_id, recorded.event_type),
        })?;
        rows.insert(recorded.aggregate_id.clone(), next);
    }
    Ok(rows)
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
