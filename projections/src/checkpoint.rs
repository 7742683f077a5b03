//! A projector's row in `projector_checkpoints`: its cursor in the log, its failure
//! (the poison event it stopped at) and the operator's retry and skip, on either
//! backend. The statements are in `sql/*/checkpoint_*.sql`.
//!
//! On SQLite every write here goes through a write transaction
//! ([`store::database::SqliteDb::begin_write`]); reads use the pool.

use crate::backend::{sql, Sql, ViewConnection};
use sqlx::Row;
use std::collections::HashSet;
use store::reader::{LogCursor, RecordedEvent};
use store::Database;
use uuid::Uuid;

const INSERT: Sql = sql!("checkpoint_insert.sql");
const READ: Sql = sql!("checkpoint_read.sql");
const LOCK: Sql = sql!("checkpoint_lock.sql");
const ADVANCE: Sql = sql!("checkpoint_advance.sql");
const FAIL: Sql = sql!("checkpoint_fail.sql");
const RETRY: Sql = sql!("checkpoint_retry.sql");
const SKIP: Sql = sql!("checkpoint_skip.sql");
const APPLIED: Sql = sql!("applied.sql");
const SKIPPED: Sql = sql!("skipped_event_ids.sql");

/// The projector's progress as stored in `projector_checkpoints`.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    pub cursor: LogCursor,
    pub events_applied: i64,
    pub failed_event_id: Option<Uuid>,
    pub failed_position: Option<i64>,
    pub last_error: Option<String>,
    pub rebuilding: bool,
    pub rebuild_position: Option<i64>,
}

/// Creates the projector's row, at the start of the log, if it has none.
pub(crate) async fn ensure(db: &Database, name: &str) -> Result<(), sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            sqlx::query(INSERT.postgres).bind(name).execute(pool).await?;
        }
        Database::Sqlite(sqlite) => {
            let mut tx = sqlite.begin_write().await?;
            sqlx::query(INSERT.sqlite).bind(name).execute(&mut *tx).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// The projector's checkpoint (the default, at the start of the log, when it has no
/// row yet).
pub(crate) async fn load(db: &Database, name: &str) -> Result<Checkpoint, sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            let Some(row) = sqlx::query(READ.postgres).bind(name).fetch_optional(pool).await? else {
                return Ok(Checkpoint::default());
            };
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
        Database::Sqlite(sqlite) => {
            let Some(row) = sqlx::query(READ.sqlite)
                .bind(name)
                .fetch_optional(sqlite.pool())
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
                failed_event_id: parse_uuid(row.try_get("failed_event_id")?)?,
                failed_position: row.try_get("failed_position")?,
                last_error: row.try_get("last_error")?,
                rebuilding: row.try_get::<Option<String>, _>("rebuild_started_at")?.is_some(),
                rebuild_position: row.try_get("rebuild_position")?,
            })
        }
    }
}

/// The checkpoint, read inside the transaction that applies a batch and locked for
/// the rest of it: on Postgres by `FOR UPDATE`; on SQLite the write transaction
/// already holds the database's write lock. `None`: the projector has no row.
pub(crate) async fn locked_cursor(
    conn: ViewConnection<'_>,
    name: &str,
) -> Result<Option<LogCursor>, sqlx::Error> {
    let row = match conn {
        ViewConnection::Postgres(conn) => sqlx::query(LOCK.postgres)
            .bind(name)
            .fetch_optional(conn)
            .await?
            .map(|row| cursor_of(&row))
            .transpose()?,
        ViewConnection::Sqlite(conn) => sqlx::query(LOCK.sqlite)
            .bind(name)
            .fetch_optional(conn)
            .await?
            .map(|row| cursor_of(&row))
            .transpose()?,
    };
    Ok(row)
}

fn cursor_of<R: Row>(row: &R) -> Result<LogCursor, sqlx::Error>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    Ok(LogCursor {
        transaction_id: row.try_get("transaction_id")?,
        position: row.try_get("position")?,
    })
}

/// Moves the checkpoint to `cursor` and counts `events` more applied, in the
/// transaction that wrote their effects.
pub(crate) async fn advance(
    conn: ViewConnection<'_>,
    name: &str,
    cursor: LogCursor,
    events: usize,
) -> Result<(), sqlx::Error> {
    match conn {
        ViewConnection::Postgres(conn) => {
            sqlx::query(ADVANCE.postgres)
                .bind(name)
                .bind(cursor.transaction_id.to_string())
                .bind(cursor.position)
                .bind(events as i64)
                .execute(conn)
                .await?;
        }
        ViewConnection::Sqlite(conn) => {
            sqlx::query(ADVANCE.sqlite)
                .bind(name)
                .bind(cursor.position)
                .bind(events as i64)
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}

/// Records that the projector stopped at `event`, if its checkpoint is still `at`
/// (a rebuild's swap or another leader may have moved it meanwhile).
pub(crate) async fn record_failure(
    db: &Database,
    name: &str,
    at: LogCursor,
    event: &RecordedEvent,
    reason: &str,
) -> Result<(), sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            sqlx::query(FAIL.postgres)
                .bind(name)
                .bind(event.event_id)
                .bind(event.position())
                .bind(reason)
                .bind(at.transaction_id.to_string())
                .bind(at.position)
                .execute(pool)
                .await?;
        }
        Database::Sqlite(sqlite) => {
            let mut tx = sqlite.begin_write().await?;
            sqlx::query(FAIL.sqlite)
                .bind(name)
                .bind(event.event_id.to_string())
                .bind(event.position())
                .bind(reason)
                .bind(at.position)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Clears a failure, so the projector tries its event again. `false`: it had not
/// failed.
pub(crate) async fn retry(db: &Database, name: &str) -> Result<bool, sqlx::Error> {
    match db {
        Database::Postgres(pool) => Ok(sqlx::query(RETRY.postgres)
            .bind(name)
            .fetch_optional(pool)
            .await?
            .is_some()),
        Database::Sqlite(sqlite) => {
            let mut tx = sqlite.begin_write().await?;
            let row = sqlx::query(RETRY.sqlite)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(row.is_some())
        }
    }
}

/// Moves the checkpoint onto the event the projector failed on and records the skip.
/// The skipped event's id; `None`: it had not failed.
pub(crate) async fn skip(db: &Database, name: &str) -> Result<Option<Uuid>, sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            let row = sqlx::query(SKIP.postgres).bind(name).fetch_optional(pool).await?;
            row.map(|row| row.try_get("event_id")).transpose()
        }
        Database::Sqlite(sqlite) => {
            let mut tx = sqlite.begin_write().await?;
            let row = sqlx::query(SKIP.sqlite)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            let skipped = parse_uuid(row.map(|row| row.try_get("event_id")).transpose()?)?;
            tx.commit().await?;
            Ok(skipped)
        }
    }
}

/// Whether the projector has applied the event at global `position`; `None` when no
/// event has that position.
pub(crate) async fn applied(db: &Database, name: &str, position: i64) -> Result<Option<bool>, sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            sqlx::query_scalar(APPLIED.postgres)
                .bind(name)
                .bind(position)
                .fetch_optional(pool)
                .await
        }
        Database::Sqlite(sqlite) => {
            sqlx::query_scalar(APPLIED.sqlite)
                .bind(name)
                .bind(position)
                .fetch_optional(sqlite.pool())
                .await
        }
    }
}

/// The events an operator skipped on the projector's view.
pub(crate) async fn skipped_event_ids(db: &Database, name: &str) -> Result<HashSet<Uuid>, sqlx::Error> {
    match db {
        Database::Postgres(pool) => Ok(sqlx::query_scalar::<_, Vec<Uuid>>(SKIPPED.postgres)
            .bind(name)
            .fetch_optional(pool)
            .await?
            .unwrap_or_default()
            .into_iter()
            .collect()),
        Database::Sqlite(sqlite) => {
            let Some(ids) = sqlx::query_scalar::<_, String>(SKIPPED.sqlite)
                .bind(name)
                .fetch_optional(sqlite.pool())
                .await?
            else {
                return Ok(HashSet::new());
            };
            serde_json::from_str(&ids).map_err(|e| sqlx::Error::Decode(Box::new(e)))
        }
    }
}

/// A uuid stored as text (SQLite has no uuid type).
fn parse_uuid(text: Option<String>) -> Result<Option<Uuid>, sqlx::Error> {
    text.map(|text| Uuid::parse_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}
