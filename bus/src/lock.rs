//! [`RelayLock`]: only one relay of a name publishes at a time, across processes.
//!
//! - **Postgres**: a session-level advisory lock, held by a connection of its own (not a
//!   pooled one: a pool would hand the session, and the lock with it, to other work, or
//!   close it). The lock lives exactly as long as that connection, so a relay that dies,
//!   or loses its connection, releases it at once; the relay checks the connection
//!   regularly and stops publishing when it is gone, since a successor may then hold it.
//! - **SQLite** has no advisory locks, and an in-process guard would not exclude a relay
//!   of another process opening the same file (`alpes relay` next to `alpes serve`). So
//!   the lock is a **lease row** in `relay_leases`: taken when free, expired, or already
//!   ours; renewed by every [`RelayLock::check`] (the relay checks every
//!   `lock_check_interval`); deleted at a graceful stop. A relay that dies stops renewing,
//!   and a standby takes over once the lease expired, so after a crash the next relay
//!   waits at most one lease duration. A renewal that finds the lease taken fails, and
//!   the relay then stops publishing, as on Postgres when the lock's connection is lost.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use std::time::Duration;
use store::database::SqliteDb;
use store::Database;

/// Why the lock cannot be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Postgres: the lock's connection did not answer; SQLite: the lease could not be
    /// renewed (this process's writers were busy).
    #[error("the relay's lock could not be checked in time")]
    Timeout,
    /// SQLite: another relay took the lease over (this one did not renew it in time).
    #[error("the lease of relay {0:?} was taken over by another relay")]
    LeaseLost(String),
}

/// The lock of one relay: the connection holding the advisory lock (Postgres), or the
/// lease (SQLite). Dropping it releases a Postgres lock at once and leaves a SQLite lease
/// to expire.
pub struct RelayLock {
    inner: Inner,
}

enum Inner {
    Postgres(PgConnection),
    Sqlite(Lease),
}

struct Lease {
    db: SqliteDb,
    /// The relay instance's identity in `relay_leases.holder`.
    holder: String,
    duration: Duration,
    /// The relay whose lease was taken last.
    relay: Option<String>,
}

impl RelayLock {
    /// Prepares to lock: on Postgres opens the dedicated connection; on SQLite the lease
    /// will last `lease` from each renewal and be held as `holder`, one id per relay
    /// instance (not per lock): a relay that gave up a lock it could not check in time
    /// (a busy writer) takes its own unexpired lease back at once, while a lease another
    /// relay took stays theirs.
    pub async fn connect(database: &Database, lease: Duration, holder: &str) -> Result<RelayLock, LockError> {
        let inner = match database {
            Database::Postgres(pool) => {
                let options: PgConnectOptions = (*pool.connect_options()).clone();
                let connection =
                    PgConnection::connect_with(&options.application_name("alpes-relay-lock")).await?;
                Inner::Postgres(connection)
            }
            Database::Sqlite(db) => Inner::Sqlite(Lease {
                db: db.clone(),
                holder: holder.to_owned(),
                duration: lease,
                relay: None,
            }),
        };
        Ok(RelayLock { inner })
    }

    /// Tries once to take the lock of the relay named `relay`: `false` while another
    /// relay holds it. Taking a lock already held by this one succeeds again.
    pub async fn try_acquire(&mut self, relay: &str) -> Result<bool, LockError> {
        match &mut self.inner {
            Inner::Postgres(connection) => {
                Ok(sqlx::query_scalar(include_str!("../sql/postgres/try_lock.sql"))
                    .bind(format!("alpes.relay:{relay}"))
                    .fetch_one(connection)
                    .await?)
            }
            Inner::Sqlite(lease) => {
                let now = epoch_millis();
                let mut write = lease.db.begin_write().await?;
                let taken = sqlx::query(include_str!("../sql/sqlite/acquire_lease.sql"))
                    .bind(relay)
                    .bind(&lease.holder)
                    .bind(now.saturating_add(millis(lease.duration)))
                    .bind(now)
                    .execute(&mut *write)
                    .await?
                    .rows_affected()
                    == 1;
                write.commit().await?;
                if taken {
                    lease.relay = Some(relay.to_owned());
                }
                Ok(taken)
            }
        }
    }

    /// Fails if the lock may belong to another relay now: on Postgres, the connection
    /// holding it is gone or does not answer within `timeout`; on SQLite, the lease could
    /// not be renewed within `timeout` or was taken over.
    pub async fn check(&mut self, timeout: Duration) -> Result<(), LockError> {
        let check = async {
            match &mut self.inner {
                Inner::Postgres(connection) => Ok(connection.ping().await?),
                Inner::Sqlite(lease) => lease.renew().await,
            }
        };
        tokio::time::timeout(timeout, check)
            .await
            .map_err(|_| LockError::Timeout)?
    }

    /// Releases the lock: closes its connection (Postgres) or deletes the lease (SQLite).
    /// Best effort: a lease that cannot be deleted expires.
    pub async fn release(self) {
        match self.inner {
            Inner::Postgres(connection) => {
                let _ = connection.close().await;
            }
            Inner::Sqlite(lease) => {
                if let Err(error) = lease.release().await {
                    tracing::warn!(%error, "relay lease not released; it will expire");
                }
            }
        }
    }
}

impl Lease {
    async fn renew(&mut self) -> Result<(), LockError> {
        let Some(relay) = &self.relay else {
            return Ok(());
        };
        let mut write = self.db.begin_write().await?;
        let renewed = sqlx::query(include_str!("../sql/sqlite/renew_lease.sql"))
            .bind(relay)
            .bind(&self.holder)
            .bind(epoch_millis().saturating_add(millis(self.duration)))
            .execute(&mut *write)
            .await?
            .rows_affected()
            == 1;
        write.commit().await?;
        if renewed {
            Ok(())
        } else {
            Err(LockError::LeaseLost(relay.clone()))
        }
    }

    async fn release(&self) -> Result<(), sqlx::Error> {
        let Some(relay) = &self.relay else {
            return Ok(());
        };
        let mut write = self.db.begin_write().await?;
        sqlx::query(include_str!("../sql/sqlite/release_lease.sql"))
            .bind(relay)
            .bind(&self.holder)
            .execute(&mut *write)
            .await?;
        write.commit().await
    }
}

fn epoch_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
