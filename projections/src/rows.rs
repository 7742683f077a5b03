//! Moving view rows between the database and Rust as JSON documents: one statement
//! loads all the rows a batch touches, one writes them back. A row's document is an
//! object whose fields are the table's columns, on both backends: Postgres reads and
//! writes it with `row_to_json` / `jsonb_populate_recordset`, SQLite with
//! `json_object` / `json_each`.

use crate::backend::{json_text, Sql, ViewConnection};
use crate::projection::{decode, ApplyError};
use chrono::{DateTime, SubsecRound, Utc};
use cqrs_es::persist::EventUpcaster;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use store::reader::RecordedEvent;

/// A view row with an `id` column, read back as a document.
pub trait Row: DeserializeOwned {
    /// The row's document in SQLite, which has no `row_to_json`: a `json_object(...)`
    /// expression over the table's columns, substituted for `{document}` in the
    /// statements that read the view (`sql/sqlite/*_document.sql`).
    const SQLITE_DOCUMENT: &'static str;

    fn id(&self) -> &str;
}

/// A row as written: its serialized fields are the table's columns.
pub trait Document: Serialize {
    /// The fields holding timestamps. SQLite has no timestamp type and stores them as
    /// text, so they are written in one fixed width (UTC, six fractional digits: the
    /// precision Postgres keeps): text order is then time order, and a value reads
    /// back equal to what Postgres returns.
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
    const SQLITE_DOCUMENT: &'static str = include_str!("../sql/sqlite/campaign_document.sql");

    fn id(&self) -> &str {
        &self.id
    }
}

impl Row for crate::partners::PartnerView {
    const SQLITE_DOCUMENT: &'static str = include_str!("../sql/sqlite/partner_document.sql");

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
    conn: ViewConnection<'_>,
    table: &str,
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

/// `sql/*/load_rows.sql`: a view's rows by id.
const LOAD_ROWS: Sql = crate::backend::sql!("load_rows.sql");

/// The rows of `table` with these ids, by id.
pub async fn load_rows<R: Row>(
    conn: ViewConnection<'_>,
    table: &str,
    ids: &[&str],
) -> Result<HashMap<String, R>, sqlx::Error> {
    let documents: Vec<Value> = match conn {
        ViewConnection::Postgres(conn) => {
            sqlx::query_scalar(&LOAD_ROWS.postgres.replace("{table}", table))
                .bind(ids)
                .fetch_all(&mut *conn)
                .await?
        }
        ViewConnection::Sqlite(conn) => {
            let sql = LOAD_ROWS
                .sqlite
                .replace("{table}", table)
                .replace("{document}", R::SQLITE_DOCUMENT);
            let texts: Vec<String> = sqlx::query_scalar(&sql)
                .bind(json_text(&ids)?)
                .fetch_all(&mut *conn)
                .await?;
            texts
                .iter()
                .map(|text| serde_json::from_str(text))
                .collect::<Result<_, _>>()
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))?
        }
    };
    documents
        .into_iter()
        .map(|document| {
            let row: R = serde_json::from_value(document).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((row.id().to_owned(), row))
        })
        .collect()
}

/// Runs `sql` (with `{table}` replaced) with the rows as one JSON array parameter.
pub async fn execute_with_rows<R: Document>(
    conn: ViewConnection<'_>,
    sql: Sql,
    table: &str,
    rows: &[R],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        ViewConnection::Postgres(conn) => {
            let rows = serde_json::to_value(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query(&sql.postgres.replace("{table}", table))
                .bind(rows)
                .execute(&mut *conn)
                .await?;
        }
        ViewConnection::Sqlite(conn) => {
            let rows = rows.iter().map(sqlite_document).collect::<Result<Vec<_>, _>>()?;
            sqlx::query(&sql.sqlite.replace("{table}", table))
                .bind(json_text(&rows)?)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// A row's document as the SQLite table stores it (see [`Document`]).
fn sqlite_document<R: Document>(row: &R) -> Result<Value, sqlx::Error> {
    let encode = |message: String| sqlx::Error::Encode(message.into());
    let mut document = serde_json::to_value(row).map_err(|e| encode(e.to_string()))?;
    let Some(columns) = document.as_object_mut() else {
        return Err(encode(format!("a row is not a JSON object: {document}")));
    };
    for field in R::TIMESTAMPS {
        if let Some(value) = columns.get_mut(*field) {
            fix_timestamp_width(value).map_err(|e| encode(format!("{field}: {e}")))?;
        }
    }
    row.sqlite_columns(columns);
    Ok(document)
}

/// Rewrites an RFC 3339 timestamp (any offset, any precision) as UTC with exactly
/// six fractional digits, rounded as Postgres rounds to its microseconds. `null`
/// stays `null`.
fn fix_timestamp_width(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Null => Ok(()),
        Value::String(text) => {
            let instant = DateTime::parse_from_rfc3339(text).map_err(|e| format!("'{text}': {e}"))?;
            *text = instant
                .with_timezone(&Utc)
                .round_subsecs(6)
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string();
            Ok(())
        }
        other => Err(format!("not a timestamp: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::fix_timestamp_width;
    use serde_json::{json, Value};

    fn fixed(text: &str) -> Value {
        let mut value = json!(text);
        fix_timestamp_width(&mut value).unwrap();
        value
    }

    #[test]
    fn sqlite_timestamps_have_one_width_so_text_order_is_time_order() {
        assert_eq!(fixed("2026-11-22T10:00:00Z"), "2026-11-22T10:00:00.000000Z");
        assert_eq!(fixed("2026-11-22T10:00:00.5Z"), "2026-11-22T10:00:00.500000Z");
        assert_eq!(
            fixed("2026-11-22T11:00:00.123456+01:00"),
            "2026-11-22T10:00:00.123456Z"
        );
        // Nanoseconds are rounded to Postgres's microseconds, carrying over.
        assert_eq!(
            fixed("2026-11-22T10:00:59.9999996Z"),
            "2026-11-22T10:01:00.000000Z"
        );
        // Unpadded, "…00.5Z" would sort before "…00Z".
        assert!(fixed("2026-11-22T10:00:00Z").as_str() < fixed("2026-11-22T10:00:00.5Z").as_str());
        let mut null = Value::Null;
        fix_timestamp_width(&mut null).unwrap();
        assert!(null.is_null());
        assert!(fix_timestamp_width(&mut json!("yesterday")).is_err());
        assert!(fix_timestamp_width(&mut json!(12)).is_err());
    }
}
