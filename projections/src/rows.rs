//! Moving view rows between the database and Rust as JSON documents: one statement
//! loads all the rows a batch touches, one writes them back. A row's document is an
//! object whose fields are the table's columns, on both backends (each backend reads
//! and writes it its own way: `postgres/`, `sqlite/`).

use crate::projection::{decode, ApplyError};
use crate::storage::{RowDocument, Table, ViewTransaction};
use cqrs_es::persist::EventUpcaster;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use store::RecordedEvent;

/// A view row with an `id` column, read back as a document.
pub trait Row: DeserializeOwned {
    fn id(&self) -> &str;
}

/// A row as written: its serialized fields are the table's columns.
pub trait Document: Serialize {
    /// The fields holding timestamps (a backend without a timestamp type stores them as
    /// text of one fixed width, so that text order is time order).
    const TIMESTAMPS: &'static [&'static str] = &[];

    /// Adds the columns only the SQLite table has, derived from the row.
    fn sqlite_columns(&self, _columns: &mut Map<String, Value>) {}
}

impl<T: Document> Document for &T {
    const TIMESTAMPS: &'static [&'static str] = T::TIMESTAMPS;

    fn sqlite_columns(&self, columns: &mut Map<String, Value>) {
        T::sqlite_columns(self, columns)
    }
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

/// A row's document, as the backends write it.
pub fn document<R: Document>(row: &R) -> Result<RowDocument, sqlx::Error> {
    let encode = |message: String| sqlx::Error::Encode(message.into());
    let Value::Object(columns) = serde_json::to_value(row).map_err(|e| encode(e.to_string()))? else {
        return Err(encode("a row is not a JSON object".into()));
    };
    let mut sqlite_columns = Map::new();
    row.sqlite_columns(&mut sqlite_columns);
    Ok(RowDocument {
        columns,
        timestamps: R::TIMESTAMPS,
        sqlite_columns,
    })
}

/// The documents of several rows.
pub fn documents<R: Document>(rows: &[R]) -> Result<Vec<RowDocument>, sqlx::Error> {
    rows.iter().map(document).collect()
}

/// Rows from their documents, by id.
pub fn rows_by_id<R: Row>(documents: Vec<Value>) -> Result<HashMap<String, R>, sqlx::Error> {
    documents
        .into_iter()
        .map(|document| {
            let row: R = serde_json::from_value(document).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((row.id().to_owned(), row))
        })
        .collect()
}

/// The shared first half of a batch for a view with one row per aggregate: decodes
/// the batch's events of `aggregate_type` (through the upcasters), loads the rows
/// they touch from `table` in one query, and folds each event into its row with
/// `fold` (`None`: no row yet). Returns the touched rows, to be written back.
/// An event that cannot be decoded or folded poisons the batch at its index.
pub async fn fold_batch<E, R>(
    tx: &mut dyn ViewTransaction,
    table: Table,
    aggregate_type: &str,
    events: &[RecordedEvent],
    upcasters: &[Box<dyn EventUpcaster>],
    fold: impl Fn(Option<R>, &RecordedEvent, E) -> Result<R, String>,
) -> Result<HashMap<String, R>, ApplyError>
where
    E: DeserializeOwned,
    R: Row,
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
    let mut rows: HashMap<String, R> = rows_by_id(tx.load_rows(table, &ids).await?)?;
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
