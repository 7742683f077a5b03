//! [`EventLog`]: appending a command's events, and finding an idempotent command's
//! earlier outcome, on either backend (each backend's statements are in its folder).

use crate::database::Database;
use crate::storage::Append;
use chrono::{DateTime, Utc};
use observability::metrics::EVENTS_APPENDED;
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
    pub event_id: Uuid,
    pub sequence: i64,
    /// Its global position: a read-your-writes token.
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

/// An event an earlier command committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommittedEvent {
    pub event_id: Uuid,
    pub sequence: i64,
    pub position: i64,
}

/// The events an earlier command with the same idempotency key committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentOutcome {
    pub request_hash: Vec<u8>,
    pub aggregate_id: String,
    /// In stream order.
    pub events: Vec<CommittedEvent>,
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
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
}

impl EventLog {
    pub fn new(db: impl Into<Database>) -> Self {
        Self { db: db.into() }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Appends `events` (contiguous sequences of one stream) and, with a `claim`,
    /// remembers its idempotency key, atomically. What the log assigned, in order.
    pub async fn append(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        events: &[NewEvent],
        metadata: &serde_json::Value,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Vec<Appended>, CommitError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let appended = self
            .db
            .storage()
            .append(Append {
                aggregate_type: aggregate_type.to_owned(),
                aggregate_id: aggregate_id.to_owned(),
                events: events.to_vec(),
                metadata: metadata.to_string(),
                claim: claim.cloned(),
            })
            .await?;
        metrics::counter!(EVENTS_APPENDED, "aggregate" => aggregate_type.to_ascii_lowercase())
            .increment(appended.len() as u64);
        Ok(appended)
    }

    /// The outcome of the command that used `key`, if one committed.
    pub async fn find_idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, sqlx::Error> {
        self.db.storage().find_idempotent_outcome(key).await
    }

    /// The global position of a stream's event at `sequence`, if it exists.
    pub async fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        self.db
            .storage()
            .position_of(aggregate_type, aggregate_id, sequence)
            .await
    }
}

/// Builds an [`IdempotentOutcome`] from the rows of `find_idempotent_outcome.sql`
/// (request hash, aggregate id, and one event per row), as both backends read them.
pub(crate) fn outcome_of(rows: Vec<(Vec<u8>, String, CommittedEvent)>) -> Option<IdempotentOutcome> {
    let (request_hash, aggregate_id, _) = rows.first()?.clone();
    Some(IdempotentOutcome {
        request_hash,
        aggregate_id,
        events: rows.into_iter().map(|(_, _, event)| event).collect(),
    })
}
