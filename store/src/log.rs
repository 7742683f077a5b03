//! [`EventLog`]: the database side of the event store, on either backend.

use crate::database::{Database, SqliteDb};
use crate::group_commit::{AppendRequest, GroupCommit};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use std::sync::{Arc, OnceLock};
use uuid::Uuid;

/// One event about to be appended, already serialised.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: serde_json::Value,
}

/// What the log assigned to an appended event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub sequence: i64,
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
}

/// An `Idempotency-Key` and the fingerprint of the request that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: String,
    /// SHA-256 of the request (method, path, canonical body), computed by the API.
    pub request_hash: Vec<u8>,
}

/// The events an earlier command with the same idempotency key committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentOutcome {
    pub request_hash: Vec<u8>,
    pub aggregate_id: String,
    /// (sequence, event_id, position), in stream order.
    pub events: Vec<(i64, Uuid, i64)>,
}

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer appended to the stream since it was loaded.
    #[error("the stream was written concurrently")]
    StreamConflict,
    /// Another request with the same idempotency key committed first.
    #[error("the idempotency key was used concurrently")]
    IdempotencyKeyTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The event log. Cheap to clone (it is a pool handle).
#[derive(Clone, Debug)]
pub struct EventLog {
    db: Database,
    /// Postgres: the group-commit queue, shared by every clone (started on first use,
    /// so an `EventLog` can be made outside a runtime).
    group_commit: Arc<OnceLock<GroupCommit>>,
}

impl EventLog {
    pub fn new(db: impl Into<Database>) -> Self {
        Self {
            db: db.into(),
            group_commit: Arc::default(),
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Appends `events` (contiguous sequences of one stream) and, with a `claim`,
    /// remembers its idempotency key, atomically.
    pub async fn append(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        events: &[NewEvent],
        metadata: &serde_json::Value,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Vec<Appended>, AppendError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        match &self.db {
            Database::Postgres(pool) => {
                let group_commit = self.group_commit.get_or_init(|| GroupCommit::start(pool.clone()));
                group_commit
                    .append(AppendRequest {
                        aggregate_type: aggregate_type.to_owned(),
                        aggregate_id: aggregate_id.to_owned(),
                        events: events.to_vec(),
                        metadata: metadata.to_string(),
                        claim: claim.cloned(),
                    })
                    .await
            }
            Database::Sqlite(db) => {
                append_sqlite(db, aggregate_type, aggregate_id, events, metadata, claim).await
            }
        }
    }

    /// The outcome of the command that used `key`, if one committed.
    pub async fn find_idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, sqlx::Error> {
        let outcome = match &self.db {
            Database::Postgres(pool) => {
                let rows = sqlx::query(include_str!("../sql/postgres/find_idempotent_outcome.sql"))
                    .bind(key)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(OutcomeRow {
                            request_hash: row.try_get("request_hash")?,
                            aggregate_id: row.try_get("aggregate_id")?,
                            event: (
                                row.try_get("sequence")?,
                                row.try_get("event_id")?,
                                row.try_get("position")?,
                            ),
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
            Database::Sqlite(db) => {
                let rows = sqlx::query(include_str!("../sql/sqlite/find_idempotent_outcome.sql"))
                    .bind(key)
                    .fetch_all(db.pool())
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(OutcomeRow {
                            request_hash: row.try_get("request_hash")?,
                            aggregate_id: row.try_get("aggregate_id")?,
                            event: (
                                row.try_get("sequence")?,
                                parse_uuid(row.try_get("event_id")?)?,
                                row.try_get("position")?,
                            ),
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
        };
        Ok(outcome_of(outcome))
    }

    /// The global position of a stream's event at `sequence`, if it exists.
    pub async fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        match &self.db {
            Database::Postgres(pool) => {
                sqlx::query_scalar(include_str!("../sql/postgres/stream_head.sql"))
                    .bind(aggregate_type)
                    .bind(aggregate_id)
                    .bind(sequence)
                    .fetch_optional(pool)
                    .await
            }
            Database::Sqlite(db) => {
                sqlx::query_scalar(include_str!("../sql/sqlite/stream_head.sql"))
                    .bind(aggregate_type)
                    .bind(aggregate_id)
                    .bind(sequence)
                    .fetch_optional(db.pool())
                    .await
            }
        }
    }
}

/// Postgres, one command: one statement (`sql/postgres/append_events.sql`), one round
/// trip, one implicit transaction for the events and the key. (Concurrent commands are
/// batched by [`crate::group_commit`], which falls back to this.)
pub(crate) async fn append_postgres(
    pool: &PgPool,
    aggregate_type: &str,
    aggregate_id: &str,
    events: &[NewEvent],
    metadata: &str,
    claim: Option<&IdempotencyClaim>,
) -> Result<Vec<Appended>, AppendError> {
    let (first, last) = (events[0].sequence, events[events.len() - 1].sequence);
    let rows = sqlx::query(include_str!("../sql/postgres/append_events.sql"))
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(events.iter().map(|e| e.sequence).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.event_version.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| e.payload.to_string()).collect::<Vec<_>>())
        .bind(metadata)
        .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .bind(claim.map(|c| c.key.as_str()))
        .bind(claim.map(|c| c.request_hash.as_slice()))
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await
        .map_err(classify_append_error)?;
    rows.iter()
        .map(|row| {
            Ok(Appended {
                sequence: row.try_get("sequence")?,
                position: row.try_get("position")?,
                recorded_at: row.try_get("recorded_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(AppendError::from)
}

/// SQLite: one write transaction (a statement per event: they are local calls, not
/// round trips), committed with `synchronous=FULL`, then readers are woken.
async fn append_sqlite(
    db: &SqliteDb,
    aggregate_type: &str,
    aggregate_id: &str,
    events: &[NewEvent],
    metadata: &serde_json::Value,
    claim: Option<&IdempotencyClaim>,
) -> Result<Vec<Appended>, AppendError> {
    // Millisecond precision, like the JSON the API answers with; one instant for the
    // whole command, as Postgres's transaction time.
    let recorded_at = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_default();
    let recorded_text = recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let metadata = metadata.to_string();
    let mut write = db.begin_write().await?;
    let mut appended = Vec::with_capacity(events.len());
    for event in events {
        let row = sqlx::query(include_str!("../sql/sqlite/append_event.sql"))
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(event.sequence)
            .bind(&event.event_type)
            .bind(&event.event_version)
            .bind(event.payload.to_string())
            .bind(&metadata)
            .bind(event.event_id.to_string())
            .bind(&recorded_text)
            .fetch_one(&mut *write)
            .await
            .map_err(|error| classify_sqlite_error(error, "events."))?;
        appended.push(Appended {
            sequence: row.try_get("sequence")?,
            position: row.try_get("position")?,
            recorded_at,
        });
    }
    if let Some(claim) = claim {
        sqlx::query(include_str!("../sql/sqlite/remember_idempotency_key.sql"))
            .bind(&claim.key)
            .bind(claim.request_hash.as_slice())
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(events[0].sequence)
            .bind(events[events.len() - 1].sequence)
            .execute(&mut *write)
            .await
            .map_err(|error| classify_sqlite_error(error, "command_idempotency."))?;
    }
    // Readers are woken even if this future is dropped while the commit is under way
    // (the commit still happens): a spurious wake-up costs one empty read, a missed
    // one a poll interval.
    let _wake_readers = WakeOnDrop(db);
    write.commit().await?;
    Ok(appended)
}

/// Wakes the log's readers when dropped.
struct WakeOnDrop<'a>(&'a SqliteDb);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify_appended();
    }
}

/// One row of `find_idempotent_outcome.sql`, decoded.
struct OutcomeRow {
    request_hash: Vec<u8>,
    aggregate_id: String,
    event: (i64, Uuid, i64),
}

fn outcome_of(rows: Vec<OutcomeRow>) -> Option<IdempotentOutcome> {
    let first = rows.first()?;
    Some(IdempotentOutcome {
        request_hash: first.request_hash.clone(),
        aggregate_id: first.aggregate_id.clone(),
        events: rows.iter().map(|row| row.event).collect(),
    })
}

/// Event ids are stored as text in SQLite.
pub fn parse_uuid(text: &str) -> Result<Uuid, sqlx::Error> {
    Uuid::parse_str(text).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// Tells the two expected unique violations apart from real database failures.
fn classify_append_error(error: sqlx::Error) -> AppendError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            match db.constraint() {
                Some("events_pkey") => return AppendError::StreamConflict,
                Some("command_idempotency_pkey") => return AppendError::IdempotencyKeyTaken,
                _ => {}
            }
        }
    }
    AppendError::Database(error)
}

/// SQLite names no constraint; its message names the table (`UNIQUE constraint
/// failed: events.aggregate_type, ...`). `table` says which statement failed.
fn classify_sqlite_error(error: sqlx::Error, table: &str) -> AppendError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            if table == "events." && db.message().contains("events.aggregate_type") {
                return AppendError::StreamConflict;
            }
            if table == "command_idempotency." && db.message().contains("command_idempotency.idempotency_key")
            {
                return AppendError::IdempotencyKeyTaken;
            }
        }
    }
    AppendError::Database(error)
}
