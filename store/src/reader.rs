//! Reading the log in commit-safe order: what projectors and the outbox relay tail.
//!
//! `position` alone is not a safe cursor: a transaction that took position 10 can
//! commit after the one that took 11, and a reader that moved past 11 would skip 10.
//! On Postgres the log is therefore read in `(transaction_id, position)` order, only
//! below the oldest running transaction (`postgres/read_log.sql`), and a reader's
//! cursor is that pair. On SQLite (one writer at a time) positions are assigned in
//! commit order: the cursor's two halves are both the position (`sqlite/read_log.sql`).

use crate::database::Database;
use chrono::{DateTime, Utc};
use serde_json::Value;
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

/// Seconds from `then` to now (the age of an event); 0 for a time ahead of this
/// machine's clock.
pub fn seconds_since(then: DateTime<Utc>) -> f64 {
    (Utc::now() - then).to_std().map_or(0.0, |age| age.as_secs_f64())
}

impl Database {
    /// The next `limit` committed events after `cursor`, in commit order.
    pub async fn read_after(&self, cursor: LogCursor, limit: i64) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        self.storage().read_after(cursor, limit).await
    }

    /// The highest position in the log (0 when empty). On Postgres it includes events
    /// of transactions still running: it is what "the head" means to an operator
    /// watching lag.
    pub async fn head_position(&self) -> Result<i64, sqlx::Error> {
        self.storage().head_position().await
    }

    /// How many committed events lie after `cursor`.
    pub async fn count_after(&self, cursor: LogCursor) -> Result<i64, sqlx::Error> {
        self.storage().count_after(cursor).await
    }

    /// When the oldest committed event after `cursor` was recorded (`None` when there
    /// is none): how far behind a reader at `cursor` is, in time.
    pub async fn oldest_after(&self, cursor: LogCursor) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let next = self.storage().read_after(cursor, 1).await?;
        Ok(next.first().map(|event| event.recorded_at))
    }

    /// Whether committed events lie after `cursor` (cheaper than counting them).
    pub async fn any_after(&self, cursor: LogCursor) -> Result<bool, sqlx::Error> {
        self.storage().any_after(cursor).await
    }

    /// Whether a reader at `cursor` has read the event at `position`; `None` when no
    /// event has that position (yet).
    pub async fn covers(&self, cursor: LogCursor, position: i64) -> Result<Option<bool>, sqlx::Error> {
        self.storage().covers(cursor, position).await
    }

    /// Wakes the log's readers: in every process on Postgres (a NOTIFY), in this one
    /// on SQLite (other processes notice within their poll interval). After an
    /// operator cleared a consumer's failure, say.
    pub async fn wake_readers(&self) -> Result<(), sqlx::Error> {
        self.storage().wake_readers().await
    }
}

/// Wakes readers when events are appended. On Postgres, in-process for this
/// process's appends, and through LISTEN on the channel appenders notify after they
/// commit (`postgres/notifier.rs`, in every `alpes` process that appends); when the
/// listening connection breaks it reconnects, and wakes readers too (notifications
/// may have been missed meanwhile). On SQLite, in-process after every append
/// (another process's appends are seen by polling).
#[derive(Clone)]
pub struct LogWaker {
    appended: watch::Receiver<u64>,
}

impl LogWaker {
    /// Wakes on this database's appends (Postgres: a LISTEN task that lives as long
    /// as the runtime).
    pub fn spawn(db: &Database) -> Self {
        Self {
            appended: db.storage().appended(),
        }
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
