//! Typed configuration, read from flags and environment variables by [`crate::cli`].

use bus::PulsarSettings;
use projections::ProjectorSettings;
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// Everything `alpes serve` needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP API listens (port 0: any free port, as tests do).
    pub bind: SocketAddr,
    pub database: DatabaseSettings,
    /// How many aggregates each command executor keeps in memory, so a command on a
    /// long stream does not replay it (0 disables the cache).
    pub aggregate_cache_capacity: usize,
    /// How long a query with `min_position` waits for the views before a 503.
    pub consistency_timeout: Duration,
    /// Tuning of the projectors (batch size, polling, retries of a poison event).
    pub projectors: ProjectorSettings,
    /// Where the outbox relay publishes; `None`: no relay in this process.
    pub relay: Option<PulsarSettings>,
}

/// Parses a duration written as `5s`, `500ms` or plain seconds (`5`, `0.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.strip_suffix("ms") {
        Some(number) => (number, 0.001),
        None => (text.strip_suffix('s').unwrap_or(text), 1.0),
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)
        .map(|n| Duration::from_secs_f64(n * unit))
        .ok_or_else(|| format!("'{text}' is not a duration like 5s, 500ms or 5"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
    }
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
