//! [`Storage`]: the store's operations that differ per backend, implemented once by
//! each backend in its folder (`postgres/mod.rs`, `sqlite/mod.rs`). The rest of the
//! store (and, through it, every other crate) is written against this trait.

use crate::error::StoreError;
use crate::log::{Appended, CommitError, IdempotencyClaim, IdempotentOutcome, NewEvent};
use crate::reader::{LogCursor, RecordedEvent};
use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::watch;

/// One command's append: contiguous events of one stream, with the command's
/// idempotency key if it carried one.
#[derive(Debug, Clone)]
pub(crate) struct Append {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub events: Vec<NewEvent>,
    /// JSON text, shared by the command's events.
    pub metadata: String,
    pub claim: Option<IdempotencyClaim>,
}

#[async_trait]
pub(crate) trait Storage: Send + Sync {
    async fn migrate(&self) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), sqlx::Error>;
    async fn close(&self);

    /// Appends the events and remembers the key, atomically.
    async fn append(&self, append: Append) -> Result<Vec<Appended>, CommitError>;
    async fn find_idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, sqlx::Error>;
    /// The global position of a stream's event at `sequence`.
    async fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
    ) -> Result<Option<i64>, sqlx::Error>;

    /// The next `limit` committed events after `cursor`, in commit order.
    async fn read_after(&self, cursor: LogCursor, limit: i64) -> Result<Vec<RecordedEvent>, sqlx::Error>;
    /// The highest position in the log, committed or not (0 when empty).
    async fn head_position(&self) -> Result<i64, sqlx::Error>;
    async fn count_after(&self, cursor: LogCursor) -> Result<i64, sqlx::Error>;
    async fn any_after(&self, cursor: LogCursor) -> Result<bool, sqlx::Error>;
    /// Whether a reader at `cursor` has read the event at `position` (`None`: no such event).
    async fn covers(&self, cursor: LogCursor, position: i64) -> Result<Option<bool>, sqlx::Error>;
    /// A counter that changes when events were appended (by this process, or by any,
    /// where the backend can tell).
    fn appended(&self) -> watch::Receiver<u64>;
    /// Wakes the log's readers (in every process, where the backend can).
    async fn wake_readers(&self) -> Result<(), sqlx::Error>;

    /// Takes the lease `key` for `holder` if nobody else holds it; `None` otherwise.
    /// `duration`: how long it lasts without a renewal, where leases expire (SQLite).
    async fn try_lease(
        &self,
        key: &str,
        holder: &str,
        duration: Duration,
    ) -> Result<Option<Box<dyn HeldLease>>, sqlx::Error>;
    /// Whether some holder (in any process) holds the lease `key` now.
    async fn lease_held(&self, key: &str) -> Result<bool, sqlx::Error>;
}

/// A lease this process holds (see [`crate::Lease`]).
#[async_trait]
pub(crate) trait HeldLease: Send + Sync {
    /// Checks the lease is still ours and extends it; `false`: it is not ours any more.
    async fn renew(&mut self) -> Result<bool, sqlx::Error>;
    /// Gives it up (best effort: a lease that cannot be released expires, or goes with
    /// its connection).
    async fn release(self: Box<Self>);
}
