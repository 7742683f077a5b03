//! The projections on Postgres: every statement beside this file, the batch's
//! transaction (`begin.sql`: no wait for the disk, no sequential scans), shadow tables
//! made with `LIKE … INCLUDING ALL`.

use crate::queries::{escape_like, CampaignFilter, PartnerFilter, StreamEvent};
use crate::storage::{Checkpoint, RowDocument, Statement, Table, ViewStore, ViewTransaction};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use std::collections::HashSet;
use store::postgres::PgDb;
use store::{LogCursor, RecordedEvent};
use uuid::Uuid;

pub(crate) struct Views {
    pool: PgPool,
}

impl Views {
    pub(crate) fn new(db: &PgDb) -> Self {
        Self {
            pool: db.pool().clone(),
        }
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

fn checkpoint_of(row: &PgRow) -> Result<Checkpoint, sqlx::Error> {
    Ok(Checkpoint {
        cursor: LogCursor {
            transaction_id: row.try_get("transaction_id")?,
            position: row.try_get("position")?,
        },
        events_applied: row.try_get("events_applied")?,
        failed_event_id: row.try_get("failed_event_id")?,
        failed_position: row.try_get("failed_position")?,
        last_error: row.try_get("last_error")?,
        rebuilding: row
            .try_get::<Option<chrono::DateTime<chrono::Utc>>, _>("rebuild_started_at")?
            .is_some(),
        rebuild_position: row.try_get("rebuild_position")?,
    })
}

#[async_trait]
impl ViewStore for Views {
    async fn begin(&self) -> Result<Box<dyn ViewTransaction>, sqlx::Error> {
        Ok(Box::new(Batch(
            self.pool.begin_with(include_str!("begin.sql")).await?,
        )))
    }

    async fn ensure_checkpoint(&self, name: &str) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("checkpoint_insert.sql"))
            .bind(name)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn checkpoint(&self, name: &str) -> Result<Checkpoint, sqlx::Error> {
        let row = sqlx::query(include_str!("checkpoint_read.sql"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| checkpoint_of(&row))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn record_failure(
        &self,
        name: &str,
        at: LogCursor,
        event: &RecordedEvent,
        reason: &str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("checkpoint_fail.sql"))
            .bind(name)
            .bind(event.event_id)
            .bind(event.position())
            .bind(reason)
            .bind(at.transaction_id.to_string())
            .bind(at.position)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn retry(&self, name: &str) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(include_str!("checkpoint_retry.sql"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    async fn skip(&self, name: &str) -> Result<Option<Uuid>, sqlx::Error> {
        let row = sqlx::query(include_str!("checkpoint_skip.sql"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| row.try_get("event_id")).transpose()
    }

    async fn applied(&self, name: &str, position: i64) -> Result<Option<bool>, sqlx::Error> {
        sqlx::query_scalar(include_str!("applied.sql"))
            .bind(name)
            .bind(position)
            .fetch_optional(&self.pool)
            .await
    }

    async fn skipped_event_ids(&self, name: &str) -> Result<HashSet<Uuid>, sqlx::Error> {
        Ok(
            sqlx::query_scalar::<_, Vec<Uuid>>(include_str!("skipped_event_ids.sql"))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or_default()
                .into_iter()
                .collect(),
        )
    }

    async fn mark_rebuilding(&self, name: &str, owner: &str) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("rebuild_mark.sql"))
            .bind(name)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn unmark_rebuilding(&self, name: &str, owner: Option<&str>) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("rebuild_unmark.sql"))
            .bind(name)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn load_rows(&self, base: &'static str, ids: &[&str]) -> Result<Vec<Value>, sqlx::Error> {
        sqlx::query_scalar(&include_str!("load_rows.sql").replace("{table}", base))
            .bind(ids)
            .fetch_all(&self.pool)
            .await
    }

    async fn list_campaigns(&self, filter: &CampaignFilter, limit: i64) -> Result<Vec<Value>, sqlx::Error> {
        sqlx::query_scalar(include_str!("list_campaigns.sql"))
            .bind(&filter.brand_id)
            .bind(filter.status.map(|s| s.as_str()))
            .bind(&filter.after)
            .bind(limit)
            .bind(&filter.participant)
            .fetch_all(&self.pool)
            .await
    }

    async fn list_partners(&self, filter: &PartnerFilter, limit: i64) -> Result<Vec<Value>, sqlx::Error> {
        let pattern = filter
            .name_contains
            .as_deref()
            .map(|q| format!("%{}%", escape_like(q)));
        sqlx::query_scalar(include_str!("list_partners.sql"))
            .bind(filter.kind.map(|k| k.as_str()))
            .bind(filter.status.map(|s| s.as_str()))
            .bind(pattern)
            .bind(&filter.after)
            .bind(limit)
            .bind(&filter.id)
            .fetch_all(&self.pool)
            .await
    }

    async fn partner_campaigns(
        &self,
        partner_id: &str,
    ) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        sqlx::query_as(include_str!("partner_campaigns.sql"))
            .bind(partner_id)
            .fetch_all(&self.pool)
            .await
    }

    async fn stream_events(&self, aggregate_type: &str, id: &str) -> Result<Vec<StreamEvent>, sqlx::Error> {
        let rows = sqlx::query(include_str!("stream_events.sql"))
            .bind(aggregate_type)
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StreamEvent {
                    event_id: row.try_get("event_id")?,
                    sequence: row.try_get("sequence")?,
                    position: row.try_get("position")?,
                    event_type: row.try_get("event_type")?,
                    event_version: row.try_get("event_version")?,
                    recorded_at: row.try_get("recorded_at")?,
                    payload: row.try_get("payload")?,
                    metadata: row.try_get("metadata")?,
                })
            })
            .collect()
    }
}

/// A batch's (or a rebuild step's) transaction.
struct Batch(Transaction<'static, Postgres>);

#[async_trait]
impl ViewTransaction for Batch {
    async fn load_rows(&mut self, table: Table, ids: &[&str]) -> Result<Vec<Value>, sqlx::Error> {
        sqlx::query_scalar(&include_str!("load_rows.sql").replace("{table}", &table.name()))
            .bind(ids)
            .fetch_all(&mut *self.0)
            .await
    }

    async fn write_rows(
        &mut self,
        statement_: Statement,
        table: Table,
        rows: &[RowDocument],
    ) -> Result<(), sqlx::Error> {
        let rows: Vec<&serde_json::Map<String, Value>> = rows.iter().map(|row| &row.columns).collect();
        let rows = serde_json::to_value(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(&statement(statement_).replace("{table}", &table.name()))
            .bind(rows)
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
            .bind(ids)
            .execute(&mut *self.0)
            .await
            .map(drop)
    }

    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&mut *self.0).await.map(drop)
    }

    async fn locked_cursor(&mut self, name: &str) -> Result<Option<LogCursor>, sqlx::Error> {
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
            .bind(cursor.transaction_id.to_string())
            .bind(cursor.position)
            .bind(events as i64)
            .execute(&mut *self.0)
            .await
            .map(drop)
    }

    async fn read_log(&mut self, cursor: LogCursor, limit: i64) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        store::postgres::read_log(&mut *self.0, cursor, limit).await
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
            let shadow = crate::projection::Tables::Shadow.name(table);
            self.execute(&format!("CREATE TABLE {shadow} (LIKE {table} INCLUDING ALL)"))
                .await?;
        }
        Ok(())
    }

    async fn swap_tables(&mut self, tables: &[&'static str]) -> Result<(), sqlx::Error> {
        for table in tables {
            let shadow = crate::projection::Tables::Shadow.name(table);
            self.execute(&format!("ALTER TABLE {table} RENAME TO {table}__old"))
                .await?;
            self.execute(&format!("ALTER TABLE {shadow} RENAME TO {table}"))
                .await?;
            self.execute(&format!("DROP TABLE {table}__old")).await?;
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
            .bind(cursor.transaction_id.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::TestDb;

    async fn setting(connection: &mut sqlx::PgConnection, name: &str) -> String {
        sqlx::query_scalar(&format!("SHOW {name}"))
            .fetch_one(connection)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_projector_transaction_commits_without_waiting_for_the_disk_and_leaves_its_connection_as_it_was_on_postgres(
    ) {
        // Arrange: one connection, so the transaction and what follows share it.
        let test = TestDb::postgres().await;
        let pool = store::postgres::connect_lazy(test.url.parse().unwrap(), 1);
        let views = Views { pool: pool.clone() };

        for commit in [true, false] {
            // Act
            let mut batch = Batch(views.pool.begin_with(include_str!("begin.sql")).await.unwrap());
            let inside = (
                setting(&mut batch.0, "synchronous_commit").await,
                setting(&mut batch.0, "enable_seqscan").await,
            );
            if commit {
                Box::new(batch).commit().await.unwrap();
            } else {
                drop(batch);
            }
            let mut after = pool.acquire().await.unwrap();
            let outside = (
                setting(&mut after, "synchronous_commit").await,
                setting(&mut after, "enable_seqscan").await,
            );

            // Assert: both settings hold for the batch only; the commands' appends on
            // the same pooled connection still commit durably.
            assert_eq!(inside, ("off".to_owned(), "off".to_owned()));
            assert_eq!(
                outside,
                ("on".to_owned(), "on".to_owned()),
                "after commit={commit}"
            );
        }
    }
}
