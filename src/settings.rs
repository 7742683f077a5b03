//! Typed configuration, read from flags and environment variables by [`crate::cli`].

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;
use std::net::SocketAddr;
use std::str::FromStr;

/// Everything `alpes serve` needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP API listens (port 0: any free port, as tests do).
    pub bind: SocketAddr,
    pub database: DatabaseSettings,
    /// How many aggregates each command executor keeps in memory, so a command on a
    /// long stream does not replay it (0 disables the cache).
    pub aggregate_cache_capacity: usize,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`; secret because it may carry
    /// a password, so it never appears in logs or `Debug` output.
    pub url: SecretString,
    /// Upper bound of the connection pool.
    pub max_connections: u32,
}

impl DatabaseSettings {
    pub fn connect_options(&self) -> Result<PgConnectOptions, sqlx::Error> {
        PgConnectOptions::from_str(self.url.expose_secret())
    }
}
