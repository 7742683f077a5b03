//! Reading the log in commit-safe order: what projectors and the outbox relay tail.
//!
//! `position` alone is not a safe cursor: a transaction that took position 10 can
//! commit after the one that took 11, and a reader that moved past 11 would skip 10.
//! The log is therefore read in `(transaction_id, position)` order, only below the
//! oldest running transaction (`sql/postgres/read_log.sql`), and a reader's cursor is
//! that pair. On SQLite (one writer at a time) positions are assigned in commit order:
//! the cursor's two halves are both the position (`sql/sqlite/read_log.sql`).

use crate::database::Database;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgListener, PgPool};
use sqlx::{Row, SqliteConnection};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// Where a reader is in the log: the last event it handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogCursor {
    /// The writing transaction's id (`xid8`, which fits in an i64 for ~2^31 epochs).
    pub transaction_id: i64,
    pub position: i64,
}

impl LogCursor {
    /// Before the first event.
    pub const START: LogCursor = LogCursor {
        transaction_id: 0,
        position: 0,
    };
}

/// A committed event, as read from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub cursor: LogCursor,
    pub event_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    pub fn position(&self) -> i64 {
        self.cursor.position
    }
}

/// The next `limit` committed events after `cursor`, in commit order.
pub async fn read_after(
    db: &Database,
    cursor: LogCursor,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    match db {
        Database::Postgres(pool) => read_after_pg(pool, cursor, limit).await,
        Database::Sqlite(db) => {
            let mut conn = db.pool().acquire().await?;
            read_after_sqlite(&mut conn, cursor, limit).await
        }
    }
}

/// [`read_after`] on Postgres, on a pool or inside a transaction (a rebuild's final
/// catch-up).
pub async fn read_after_pg<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    cursor: LogCursor,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let rows = sqlx::query(include_str!("../sql/postgres/read_log.sql"))
        .bind(cursor.transaction_id.to_string())
        .bind(cursor.position)
        .bind(limit)
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(RecordedEvent {
                cursor: LogCursor {
                    transaction_id: row.try_get("transaction_id")?,
                    position: row.try_get("position")?,
                },
                event_id: row.try_get("event_id")?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
                recorded_at: row.try_get("recorded_at")?,
            })
        })
        .collect()
}

/// [`read_after`] on SQLite, on any connection (a write transaction included).
pub async fn read_after_sqlite(
    conn: &mut SqliteConnection,
    cursor: LogCursor,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let rows = sqlx::query(include_str!("../sql/sqlite/read_log.sql"))
        .bind(cursor.position)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            let json = |column: &str| -> Result<Value, sqlx::Error> {
                let text: &str = row.try_get(column)?;
                serde_json::from_str(text).map_err(|error| sqlx::Error::Decode(Box::new(error)))
            };
            Ok(RecordedEvent {
                cursor: LogCursor {
                    transaction_id: row.try_get("transaction_id")?,
                    position: row.try_get("position")?,
                },
                event_id: crate::log::parse_uuid(row.try_get("event_id")?)?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: json("payload")?,
                metadata: json("metadata")?,
                recorded_at: row.try_get("recorded_at")?,
            })
        })
        .collect()
}

/// The highest position in the log (0 when empty). On Postgres it includes events
/// of transactions still running: it is what "the head" means to an operator
/// watching lag.
pub async fn head_position(db: &Database) -> Result<i64, sqlx::Error> {
    const SQL: &str = "SELECT coalesce(max(position), 0) FROM events";
    match db {
        Database::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await,
        Database::Sqlite(db) => sqlx::query_scalar(SQL).fetch_one(db.pool()).await,
    }
}

/// How many committed events lie after `cursor`.
pub async fn count_after(db: &Database, cursor: LogCursor) -> Result<i64, sqlx::Error> {
    scalar_after(
        db,
        cursor,
        include_str!("../sql/postgres/count_after.sql"),
        "SELECT count(*) FROM events WHERE position > $1",
    )
    .await
}

/// Whether committed events lie after `cursor` (cheaper than counting them).
pub async fn any_after(db: &Database, cursor: LogCursor) -> Result<bool, sqlx::Error> {
    scalar_after(
        db,
        cursor,
        include_str!("../sql/postgres/any_after.sql"),
        "SELECT EXISTS (SELECT 1 FROM events WHERE position > $1)",
    )
    .await
}

/// One value about the events after `cursor`: on Postgres `postgres` gets the whole
/// cursor ($1 transaction_id as text, $2 position), on SQLite `sqlite` its position
/// ($1; position order is commit order there).
async fn scalar_after<T>(
    db: &Database,
    cursor: LogCursor,
    postgres: &str,
    sqlite: &str,
) -> Result<T, sqlx::Error>
where
    T: Send
        + Unpin
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>,
{
    match db {
        Database::Postgres(pool) => {
            sqlx::query_scalar(postgres)
                .bind(cursor.transaction_id.to_string())
                .bind(cursor.position)
                // Not prepared: an unnamed statement is planned on every call for its
                // actual values. A prepared one keeps, after five calls, a generic
                // plan made for the size the log had then: a sequential scan chosen
                // while the log was small stays one at millions of events.
                .persistent(false)
                .fetch_one(pool)
                .await
        }
        Database::Sqlite(db) => {
            sqlx::query_scalar(sqlite)
                .bind(cursor.position)
                .fetch_one(db.pool())
                .await
        }
    }
}

/// Whether a reader at `cursor` has read the event at `position`; `None` when no
/// event has that position (yet).
pub async fn covers(db: &Database, cursor: LogCursor, position: i64) -> Result<Option<bool>, sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            sqlx::query_scalar(include_str!("../sql/postgres/cursor_covers.sql"))
                .bind(cursor.transaction_id.to_string())
                .bind(cursor.position)
                .bind(position)
                .fetch_optional(pool)
                .await
        }
        Database::Sqlite(db) => {
            // Commit order is position order: covered when the cursor is at or past it.
            sqlx::query_scalar("SELECT position <= $1 FROM events WHERE position = $2")
                .bind(cursor.position)
                .bind(position)
                .fetch_optional(db.pool())
                .await
        }
    }
}

/// Wakes readers when events are appended. On Postgres, in-process for this
/// process's appends, and through LISTEN on the channel appenders notify after they
/// commit (`notifier.rs`, in every `alpes` process that appends): each bumps a counter
/// readers watch; when the listening connection breaks it reconnects, and bumps the
/// counter too (notifications may have been missed meanwhile). On SQLite, the counter
/// is bumped in-process by every append (another process's appends are seen by
/// polling).
#[derive(Clone)]
pub struct LogWaker {
    appended: watch::Receiver<u64>,
}

pub const APPENDED_CHANNEL: &str = "alpes_events_appended";

impl LogWaker {
    /// Wakes on this database's appends (Postgres: a LISTEN task that lives as long
    /// as the runtime).
    pub fn spawn(db: &Database) -> Self {
        match db {
            Database::Postgres(pool) => Self::listen(pool.clone()),
            Database::Sqlite(db) => Self {
                appended: db.watch_appended(),
            },
        }
    }

    fn listen(pool: PgPool) -> Self {
        let (tx, rx) = watch::channel(0u64);
        // This process's own appends, without the round trip through the server.
        let mut local = crate::notifier::local_appends(&pool);
        let forward = tx.clone();
        tokio::spawn(async move {
            while local.changed().await.is_ok() {
                forward.send_modify(|n| *n += 1);
                if forward.is_closed() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            loop {
                match PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if listener.listen(APPENDED_CHANNEL).await.is_ok() {
                            tx.send_modify(|n| *n += 1);
                            while listener.recv().await.is_ok() {
                                tx.send_modify(|n| *n += 1);
                            }
                        }
                    }
                    Err(error) => tracing::debug!(%error, "cannot listen for appended events"),
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Self { appended: rx }
    }

    /// A waker that never wakes (readers then rely on polling alone).
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(0u64);
        std::mem::forget(tx);
        Self { appended: rx }
    }

    /// Waits until events were appended since the last call, or `poll` elapsed;
    /// whether it was woken (rather than timed out).
    pub async fn wait(&mut self, poll: Duration) -> bool {
        matches!(
            tokio::time::timeout(poll, self.appended.changed()).await,
            Ok(Ok(()))
        )
    }
}
