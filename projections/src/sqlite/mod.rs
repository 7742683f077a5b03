//! The projections on SQLite: every statement beside this file. What SQLite needs
//! that Postgres does not:
//! - rows as JSON documents built with `json_object` (`campaign_document.sql`,
//!   `partner_document.sql`: what Postgres's `row_to_json` gives), and parameters
//!   lists as JSON arrays read with `json_each`;
//! - timestamps as text of one fixed width, so text order is time order, and the
//!   columns only its tables have (`name_folded`);
//! - shadow tables copied from the live table's own `CREATE` statements;
//! - every write in a write transaction taken through `SqliteDb::begin_write` (this
//!   process's writers queue; SQLite's write lock is held from `BEGIN`).

use crate::projection::Tables;
use crate::queries::{escape_like, CampaignFilter, PartnerFilter, StreamEvent};
use crate::storage::{Checkpoint, RowDocument, Statement, Table, ViewStore, ViewTransaction};
use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use std::collections::HashSet;
use store::sqlite::{parse_uuid, SqliteDb, SqliteWrite};
use store::{LogCursor, RecordedEvent};
use uuid::Uuid;

pub(crate) struct Views {
    db: SqliteDb,
}

impl Views {
    pub(crate) fn new(db: &SqliteDb) -> Self {
        Self { db: db.clone() }
    }

    /// Runs one write statement in a write transaction of its own; the row it returns.
    async fn write_returning(&self, sql: &str, name: &str) -> Result<Option<SqliteRow>, sqlx::Error> {
        let mut write = self.db.begin_write().await?;
        let row = sqlx::query(sql).bind(name).fetch_optional(&mut *write).await?;
        write.commit().await?;
        Ok(row)
    }
}

fn statement(statement: Statement) -> &'static str {
    match statement {
        Statement::UpsertCampaigns => include_str!("upsert_campaigns.sql"),
        Statement::InsertParticipations => include_str!("insert_participations.sql"),
        Statement::DeleteParticipations => include_str!("delete_participations.sql"),
        Statement::UpsertPartners => include_str!("upsert_partners.sql"),
    }
}

/// The `json_object(…)` expression that reads a row of the view `base` as a document.
fn document(base: &str) -> Result<&'static str, sqlx::Error> {
    match base {
        "campaign_view" => Ok(include_str!("campaign_document.sql")),
        "partner_view" => Ok(include_str!("partner_document.sql")),
        other => Err(sqlx::Error::Protocol(format!("no row document for {other}"))),
    }
}

/// JSON text of a value, for a parameter read with the JSON functions.
fn json_text(value: &impl serde::Serialize) -> Result<String, sqlx::Error> {
    serde_json::to_string(value).map_err(|error| sqlx::Error::Encode(Box::new(error)))
}

/// Row documents SQLite answered as JSON text.
fn parse_documents(texts: Vec<String>) -> Result<Vec<Value>, sqlx::Error> {
    texts
        .iter()
        .map(|text| serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .collect()
}

fn optional_uuid(text: Option<String>) -> Result<Option<Uuid>, sqlx::Error> {
    text.as_deref().map(parse_uuid).transpose()
}

async fn load_rows(
    conn: &mut SqliteConnection,
    table: Table,
    ids: &[&str],
) -> Result<Vec<Value>, sqlx::Error> {
    let sql = include_str!("load_rows.sql")
        .replace("{table}", &table.name())
        .replace("{document}", document(table.base)?);
    let texts = sqlx::query_scalar(&sql)
        .bind(json_text(&ids)?)
        .fetch_all(conn)
        .await?;
    parse_documents(texts)
}

#[async_trait]
impl ViewStore for Views {
    async fn begin(&self) -> Result<Box<dyn ViewTransaction>, sqlx::Error> {
        Ok(Box::new(Batch(self.db.begin_write().await?)))
    }

    async fn ensure_checkpoint(&self, name: &str) -> Result<(), sqlx::Error> {
        self.write_returning(include_str!("checkpoint_insert.sql"), name)
            .await
            .map(drop)
    }

    async fn checkpoint(&self, name: &str) -> Result<Checkpoint, sqlx::Error> {
        let Some(row) = sqlx::query(include_str!("checkpoint_read.sql"))
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?
        else {
            return Ok(Checkpoint::default());
        };
        Ok(Checkpoint {
            cursor: LogCursor {
                transaction_id: row.try_get("transaction_id")?,
                position: row.try_get("position")?,
            },
            events_applied: row.try_get("events_applied")?,
            failed_event_id: optional_uuid(row.try_get("failed_event_id")?)?,
            failed_position: row.try_get("failed_position")?,
            last_error: row.try_get("last_error")?,
            rebuilding: row.try_get::<Option<String>, _>("rebuild_started_at")?.is_some(),
            rebuild_position: row.try_get("rebuild_position")?,
        })
    }

    async fn record_failure(
        &self,
        name: &str,
        at: LogCursor,
        event: &RecordedEvent,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        let mut write = self.db.begin_write().await?;
        sqlx::query(include_str!("checkpoint_fail.sql"))
            .bind(name)
            .bind(event.event_id.to_string())
            .bind(event.position())
            .bind(reason)
            .bind(at.position)
            .execute(&mut *write)
            .await?;
        write.commit().await
    }

    async fn retry(&self, name: &str) -> Result<bool, sqlx::Error> {
        Ok(self
            .write_returning(include_str!("checkpoint_retry.sql"), name)
            .await?
            .is_some())
    }

    async fn skip(&self, name: &str) -> Result<Option<Uuid>, sqlx::Error> {
        let row = self
            .write_returning(include_str!("checkpoint_skip.sql"), name)
            .await?;
        optional_uuid(row.map(|row| row.try_get("event_id")).transpose()?)
    }

    async fn applied(&self, name: &str, position: i64) -> Result<Option<bool>, sqlx::Error> {
        sqlx::query_scalar(include_str!("applied.sql"))
            .bind(name)
            .bind(position)
            .fetch_optional(self.db.pool())
            .await
    }

    async fn skipped_event_ids(&self, name: &str) -> Result<HashSet<Uuid>, sqlx::Error> {
        let Some(ids) = sqlx::query_scalar::<_, String>(include_str!("skipped_event_ids.sql"))
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?
        else {
            return Ok(HashSet::new());
        };
        serde_json::from_str(&ids).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }

    async fn mark_rebuilding(&self, name: &str, owner: &str) -> Result<(), sqlx::Error> {
        let mut write = self.db.begin_write().await?;
        sqlx::query(include_str!("rebuild_mark.sql"))
            .bind(name)
            .bind(owner)
            .execute(&mut *write)
            .await?;
        write.commit().await
    }

    async fn unmark_rebuilding(&self, name: &str, owner: Option<&str>) -> Result<(), sqlx::Error> {
        let mut write = self.db.begin_write().await?;
        sqlx::query(include_str!("rebuild_unmark.sql"))
            .bind(name)
            .bind(owner)
            .execute(&mut *write)
            .await?;
        write.commit().await
    }

    async fn load_rows(&self, base: &'static str, ids: &[&str]) -> Result<Vec<Value>, sqlx::Error> {
        let mut conn = self.db.pool().acquire().await?;
        let table = Table {
            base,
            copy: Tables::Live,
        };
        load_rows(&mut conn, table, ids).await
    }

    async fn list_campaigns(&self, filter: &CampaignFilter, limit: i64) -> Result<Vec<Value>, sqlx::Error> {
        let sql = include_str!("list_campaigns.sql").replace("{document}", document("campaign_view")?);
        let texts = sqlx::query_scalar(&sql)
            .bind(&filter.brand_id)
            .bind(filter.status.map(|s| s.as_str()))
            .bind(&filter.after)
            .bind(limit)
            .bind(&filter.participant)
            .fetch_all(self.db.pool())
            .await?;
        parse_documents(texts)
    }

    async fn list_partners(&self, filter: &PartnerFilter, limit: i64) -> Result<Vec<Value>, sqlx::Error> {
        // Matched against the lowercased name: SQLite's LIKE folds ASCII only.
        let pattern = filter
            .name_contains
            .as_deref()
            .map(|q| format!("%{}%", escape_like(&q.to_lowercase())));
        let sql = include_str!("list_partners.sql").replace("{document}", document("partner_view")?);
        let texts = sqlx::query_scalar(&sql)
            .bind(filter.kind.map(|k| k.as_str()))
            .bind(filter.status.map(|s| s.as_str()))
            .bind(pattern)
            .bind(&filter.after)
            .bind(limit)
            .bind(&filter.id)
            .fetch_all(self.db.pool())
            .await?;
        parse_documents(texts)
    }

    async fn partner_campaigns(
        &self,
        partner_id: &str,
    ) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        sqlx::query_as(include_str!("partner_campaigns.sql"))
            .bind(partner_id)
            .fetch_all(self.db.pool())
            .await
    }

    async fn stream_events(&self, aggregate_type: &str, id: &str) -> Result<Vec<StreamEvent>, sqlx::Error> {
        let rows = sqlx::query(include_str!("stream_events.sql"))
            .bind(aggregate_type)
            .bind(id)
            .fetch_all(self.db.pool())
            .await?;
        // Ids and payloads are text (timestamps too: RFC 3339, which sqlx decodes).
        rows.iter()
            .map(|row| {
                let payload: &str = row.try_get("payload")?;
                let metadata: &str = row.try_get("metadata")?;
                Ok(StreamEvent {
                    event_id: parse_uuid(row.try_get("event_id")?)?,
                    sequence: row.try_get("sequence")?,
                    position: row.try_get("position")?,
                    event_type: row.try_get("event_type")?,
                    event_version: row.try_get("event_version")?,
                    recorded_at: row.try_get("recorded_at")?,
                    payload: serde_json::from_str(payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                    metadata: serde_json::from_str(metadata).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                })
            })
            .collect()
    }
}

/// A batch's (or a rebuild step's) write transaction.
struct Batch(SqliteWrite);

#[async_trait]
impl ViewTransaction for Batch {
    async fn load_rows(&mut self, table: Table, ids: &[&str]) -> Result<Vec<Value>, sqlx::Error> {
        load_rows(&mut self.0, table, ids).await
    }

    async fn write_rows(
        &mut self,
        statement_: Statement,
        table: Table,
        rows: &[RowDocument],
    ) -> Result<(), sqlx::Error> {
        let rows = rows.iter().map(stored_row).collect::<Result<Vec<_>, _>>()?;
        sqlx::query(&statement(statement_).replace("{table}", &table.name()))
            .bind(json_text(&rows)?)
            .execute(&mut *self.0)
            .await
            .map(drop)
    }

    async fn write_ids(
        &mut self,
        statement_: Statement,
        table: Table,
        ids: &[&str],
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&statement(statement_).replace("{table}", &table.name()))
            .bind(json_text(&ids)?)
            .execute(&mut *self.0)
            .await
            .map(drop)
    }

    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&mut *self.0).await.map(drop)
    }

    async fn locked_cursor(&mut self, name: &str) -> Result<Option<LogCursor>, sqlx::Error> {
        // The write transaction already holds the database's write lock.
        let row: Option<(i64, i64)> = sqlx::query_as(include_str!("checkpoint_lock.sql"))
            .bind(name)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(row.map(|(transaction_id, position)| LogCursor {
            transaction_id,
            position,
        }))
    }

    async fn advance(&mut self, name: &str, cursor: LogCursor, events: usize) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("checkpoint_advance.sql"))
            .bind(name)
            .bind(cursor.position)
            .bind(events as i64)
            .execute(&mut *self.0)
            .await
            .map(drop)
    }

    async fn read_log(&mut self, cursor: LogCursor, limit: i64) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        store::sqlite::read_log(&mut self.0, cursor, limit).await
    }

    async fn rebuild_progress(
        &mut self,
        name: &str,
        owner: &str,
        position: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let owned = sqlx::query(include_str!("rebuild_progress.sql"))
            .bind(name)
            .bind(owner)
            .bind(position)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(owned.is_some())
    }

    async fn create_shadow_tables(&mut self, tables: &[&'static str]) -> Result<(), sqlx::Error> {
        for table in tables {
            for statement in shadow_schema(&mut self.0, table).await? {
                self.execute(&statement).await?;
            }
        }
        Ok(())
    }

    async fn swap_tables(&mut self, tables: &[&'static str]) -> Result<(), sqlx::Error> {
        for table in tables {
            let shadow = Tables::Shadow.name(table);
            self.execute(&format!("DROP TABLE {table}")).await?;
            self.execute(&format!("ALTER TABLE {shadow} RENAME TO {table}"))
                .await?;
        }
        Ok(())
    }

    async fn rebuild_swapped(
        &mut self,
        name: &str,
        cursor: LogCursor,
        applied: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("rebuild_swapped.sql"))
            .bind(name)
            .bind(cursor.position)
            .bind(applied)
            .execute(&mut *self.0)
            .await
            .map(drop)
    }

    async fn rebuild_failed(&mut self, name: &str, reason: &str) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("rebuild_failed.sql"))
            .bind(name)
            .bind(reason)
            .execute(&mut *self.0)
            .await
            .map(drop)
    }

    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error> {
        self.0.commit().await
    }
}

/// A row as the SQLite table stores it: timestamps in one width, plus the columns only
/// SQLite has.
fn stored_row(row: &RowDocument) -> Result<Value, sqlx::Error> {
    let mut columns = row.columns.clone();
    for field in row.timestamps {
        if let Some(value) = columns.get_mut(*field) {
            fix_timestamp_width(value).map_err(|e| sqlx::Error::Encode(format!("{field}: {e}").into()))?;
        }
    }
    columns.extend(row.sqlite_columns.clone());
    Ok(Value::Object(columns))
}

/// Rewrites an RFC 3339 timestamp (any offset, any precision) as UTC with exactly six
/// fractional digits (the precision Postgres keeps), rounded as Postgres rounds: text
/// order is then time order, and a value reads back equal to what Postgres returns.
/// `null` stays `null`.
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

/// The statements that create the shadow copy of table `table`: its own `CREATE
/// TABLE` and `CREATE INDEX` statements (so the copy cannot drift from the
/// migrations), naming the shadow table, and the indexes by [`shadow_index_name`].
async fn shadow_schema(conn: &mut SqliteConnection, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let shadow = Tables::Shadow.name(table);
    let rows = sqlx::query(include_str!("shadow_schema.sql"))
        .bind(table)
        .fetch_all(&mut *conn)
        .await?;
    let mut statements = Vec::new();
    for row in rows {
        let kind: String = row.try_get("type")?;
        let name: String = row.try_get("name")?;
        let sql: String = row.try_get("sql")?;
        // Everything from the first parenthesis on is the body (columns and
        // constraints; indexed columns and any WHERE): the head names the object and
        // its table, as written or, after a rename, quoted.
        let Some(body_at) = sql.find('(') else {
            return Err(sqlx::Error::Protocol(format!(
                "unexpected schema of {table}: {sql}"
            )));
        };
        let (head, body) = sql.split_at(body_at);
        statements.push(match kind.as_str() {
            "table" => format!("CREATE TABLE {shadow} {body}"),
            _ => {
                let unique = if head.to_ascii_uppercase().starts_with("CREATE UNIQUE") {
                    "UNIQUE "
                } else {
                    ""
                };
                format!(
                    "CREATE {unique}INDEX {} ON {shadow} {body}",
                    shadow_index_name(&name)
                )
            }
        });
    }
    if statements.is_empty() {
        return Err(sqlx::Error::Protocol(format!("no table named {table}")));
    }
    Ok(statements)
}

/// The name of a live index's copy on a shadow table. SQLite index names are global
/// and a renamed table keeps its indexes' names, so after a swap the live indexes
/// bear the shadow names: the names alternate between `NAME` and `NAME__rebuild`
/// from one rebuild to the next (instead of growing a suffix per rebuild).
fn shadow_index_name(live: &str) -> String {
    const SUFFIX: &str = "__rebuild";
    match live.strip_suffix(SUFFIX) {
        Some(base) => base.to_owned(),
        None => format!("{live}{SUFFIX}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use test_support::TestDb;

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

    #[test]
    fn shadow_index_names_alternate_instead_of_growing() {
        assert_eq!(
            shadow_index_name("campaign_view_brand_idx"),
            "campaign_view_brand_idx__rebuild"
        );
        assert_eq!(
            shadow_index_name("campaign_view_brand_idx__rebuild"),
            "campaign_view_brand_idx"
        );
    }

    #[tokio::test]
    async fn sqlite_shadow_tables_copy_the_live_schema() {
        let test = TestDb::sqlite().await;
        let mut conn = test.db.as_sqlite().unwrap().pool().acquire().await.unwrap();
        let statements = shadow_schema(&mut conn, "campaign_view").await.unwrap();
        assert_eq!(statements.len(), 3, "{statements:?}");
        assert!(statements[0].starts_with("CREATE TABLE campaign_view__rebuild ("));
        assert!(statements[0].contains("budget        text    NOT NULL CHECK (json_valid(budget))"));
        assert!(statements[0].trim_end().ends_with("STRICT"));
        assert_eq!(
            statements[1],
            "CREATE INDEX campaign_view_brand_idx__rebuild ON campaign_view__rebuild (brand_id, id)"
        );
        assert!(matches!(
            shadow_schema(&mut conn, "no_such_view").await,
            Err(sqlx::Error::Protocol(_))
        ));
    }
}
