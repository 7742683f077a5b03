//! [`EventLog`]: the database side of the event store.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
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

/// The event log in Postgres. Cheap to clone (it is a pool handle).
#[derive(Clone, Debug)]
pub struct EventLog {
    pool: PgPool,
}

impl EventLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Appends `events` (contiguous sequences of one stream) and, with a `claim`,
    /// remembers its idempotency key, atomically, in one round trip.
    pub async fn append(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        events: &[NewEvent],
        metadata: &serde_json::Value,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Vec<Appended>, AppendError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(include_str!("../sql/append_events.sql"))
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
            .bind(metadata.to_string())
            .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
            .bind(claim.map(|c| c.key.as_str()))
            .bind(claim.map(|c| c.request_hash.as_slice()))
            .bind(first.sequence)
            .bind(last.sequence)
            .fetch_all(&self.pool)
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

    /// The outcome of the command that used `key`, if one committed.
    pub async fn find_idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, sqlx::Error> {
        let rows = sqlx::query(include_str!("../sql/find_idempotent_outcome.sql"))
            .bind(key)
            .fetch_all(&self.pool)
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(IdempotentOutcome {
            request_hash: first.try_get("request_hash")?,
            aggregate_id: first.try_get("aggregate_id")?,
            events: rows
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get("sequence")?,
                        row.try_get("event_id")?,
                        row.try_get("position")?,
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()?,
        }))
    }

    /// The global position of a stream's event at `sequence`, if it exists.
    pub async fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(include_str!("../sql/stream_head.sql"))
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(sequence)
            .fetch_optional(&self.pool)
            .await
    }
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
