//! [`Lease`]: the one way a process becomes the only one doing something across
//! processes: the leader of a projector, the rebuild of a view, the active relay.
//!
//! One key scheme for all of them: `<kind>:<name>` (`projector:campaigns`,
//! `rebuild:campaigns`, `relay:pulsar`), built by [`Lease::key`].
//!
//! - **Postgres**: a session advisory lock on `hashtextextended('alpes:' || key, 0)`,
//!   held by a connection of its own (not a pooled one: a pool would hand the
//!   session, and the lock with it, to other work). The lock lives exactly as long as
//!   that connection, so a holder that dies, or loses its connection, releases it at
//!   once; [`Lease::renew`] checks the connection is alive.
//! - **SQLite** has no session locks another process could see, so a lease is a row
//!   in `leases` with an expiry: taken when free, expired, or already this holder's;
//!   extended by every [`Lease::renew`]; deleted by [`Lease::release`]. A holder that
//!   dies stops renewing and another takes over once the lease expired.
//!
//! A holder that fails to renew must stop acting as the only one: another may hold
//! the lease now.

use crate::database::Database;
use crate::storage::HeldLease;
use std::time::Duration;

/// A lease this process holds. Dropped without [`Lease::release`], a Postgres lease is
/// released with its connection and a SQLite lease expires.
pub struct Lease {
    key: String,
    held: Box<dyn HeldLease>,
}

/// Why a lease could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The renewal did not finish in time (Postgres: the lock's connection did not
    /// answer; SQLite: this process's writers were busy).
    #[error("the lease {0:?} could not be renewed in time")]
    Timeout(String),
    /// Another holder has it now (SQLite: it expired and was taken over; Postgres: the
    /// connection that held it is gone).
    #[error("the lease {0:?} was taken over by another holder")]
    Lost(String),
}

impl Lease {
    /// The key of the lease of `name` among things of a `kind` (`projector`, `rebuild`,
    /// `relay`).
    pub fn key(kind: &str, name: &str) -> String {
        format!("{kind}:{name}")
    }

    /// Tries once to take the lease `key` for `holder` (an id per instance of what
    /// holds it: a holder that gave up a lease it could not renew in time takes its own
    /// unexpired lease back at once). `None` while someone else holds it. `duration`:
    /// how long a SQLite lease lasts without a renewal.
    pub async fn try_acquire(
        db: &Database,
        key: &str,
        holder: &str,
        duration: Duration,
    ) -> Result<Option<Lease>, sqlx::Error> {
        Ok(db
            .storage()
            .try_lease(key, holder, duration)
            .await?
            .map(|held| Lease {
                key: key.to_owned(),
                held,
            }))
    }

    /// Whether anyone (in any process) holds the lease `key` now. Looking never takes it.
    pub async fn is_held(db: &Database, key: &str) -> Result<bool, sqlx::Error> {
        db.storage().lease_held(key).await
    }

    pub fn key_name(&self) -> &str {
        &self.key
    }

    /// Checks the lease is still this holder's and extends it, within `timeout`.
    pub async fn renew(&mut self, timeout: Duration) -> Result<(), LeaseError> {
        match tokio::time::timeout(timeout, self.held.renew()).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(LeaseError::Lost(self.key.clone())),
            // Postgres: an error on the lock's own connection means the lock went with it.
            Ok(Err(error)) => Err(LeaseError::Database(error)),
            Err(_) => Err(LeaseError::Timeout(self.key.clone())),
        }
    }

    /// Gives the lease up.
    pub async fn release(self) {
        self.held.release().await
    }
}
