//! [`RelayLock`]: only one relay of a name publishes at a time, across processes.
//!
//! A Postgres session-level advisory lock, held by a connection of its own (not a pooled
//! one: a pool would hand the session, and the lock with it, to other work, or close it).
//! The lock lives exactly as long as that connection, so a relay that dies, or loses its
//! connection, releases it; the relay checks the connection regularly and stops publishing
//! when it is gone, since a successor may then hold the lock.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, PgPool};
use std::time::Duration;

/// The connection that takes, then holds, the lock. Dropping it (or losing it) releases
/// the lock.
pub struct RelayLock {
    connection: PgConnection,
}

impl RelayLock {
    /// Opens the dedicated connection, to the pool's database.
    pub async fn connect(pool: &PgPool) -> Result<RelayLock, sqlx::Error> {
        let options: PgConnectOptions = (*pool.connect_options()).clone();
        let connection = PgConnection::connect_with(&options.application_name("alpes-relay-lock")).await?;
        Ok(RelayLock { connection })
    }

    /// Tries once to take the lock of the relay named `relay`: `false` while another
    /// relay holds it. Taking a lock already held by this connection succeeds again.
    pub async fn try_acquire(&mut self, relay: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(include_str!("../sql/try_lock.sql"))
            .bind(format!("alpes.relay:{relay}"))
            .fetch_one(&mut self.connection)
            .await
    }

    /// Fails if the connection holding the lock is gone (or does not answer within
    /// `timeout`): the lock may then belong to another relay.
    pub async fn check(&mut self, timeout: Duration) -> Result<(), sqlx::Error> {
        match tokio::time::timeout(timeout, self.connection.ping()).await {
            Ok(result) => result,
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }

    /// Releases the lock by closing its connection.
    pub async fn release(self) {
        let _ = self.connection.close().await;
    }
}
