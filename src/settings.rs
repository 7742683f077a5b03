//! Typed configuration, read from flags and environment variables by [`crate::cli`].

use crate::server::HttpSettings;
use auth::{KeySource, Principal, TokenSettings};
use bus::PulsarSettings;
use projections::ProjectorSettings;
use secrecy::{ExposeSecret, SecretString};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use store::{Backend, Database};

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
    /// Where the outbox relay publishes: Pulsar, or the in-process bus that feeds the
    /// tracking service of this process.
    pub bus: BusSettings,
    /// What carries the seed front door's commands.
    pub commands: CommandTransport,
    /// The HTTP server's limits and protections (timeouts, caps, rate limit, CORS).
    pub http: HttpSettings,
    /// How requests prove who they are.
    pub auth: AuthSettings,
    /// Who the seed's front door acts as for requests without a token, when its routes
    /// are kept open for legacy clients (`ALPES_BFF_OPEN`).
    pub legacy_principal: Option<Principal>,
}

/// The message bus of `alpes serve`.
#[derive(Debug, Clone)]
pub enum BusSettings {
    /// No `PULSAR_URL`: the relay delivers to the tracking service in this process,
    /// whose routes (`/tracking/...`) are served on the API's listener.
    InProcess,
    /// `PULSAR_URL`: the relay publishes to Pulsar; the tracking service runs apart
    /// (`alpes tracking`).
    Pulsar(PulsarSettings),
    /// No relay in this process (another process relays).
    Off,
}

/// What carries the seed front door's commands in `alpes serve`. Chosen by `PULSAR_URL`
/// alone, whether or not this process relays: every process that accepts commands must
/// hand them to the same place.
#[derive(Debug, Clone, Default)]
// Built once at startup: the size of the unused variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum CommandTransport {
    /// No `PULSAR_URL`: the database's embedded command queue, run in this process.
    #[default]
    Embedded,
    /// `PULSAR_URL`: the command topics; this process runs the campaign and partner
    /// ones and stores the outcomes `alpes tracking` sends back.
    Pulsar(PulsarSettings, bus::commands::CommandTopics),
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

/// A duration for a timeout: like [`parse_duration`], but never zero (which would
/// refuse every request).
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        Duration::ZERO => Err(format!("'{text}' is not a timeout: it must be more than 0")),
        duration => Ok(duration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_durations_above_zero() {
        assert_eq!(parse_timeout("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_timeout("0s").is_err());
    }

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
    /// `postgres://user:password@host:port/database` or `sqlite://path`; secret
    /// because it may carry a password, so it never appears in logs or `Debug` output.
    pub url: SecretString,
    /// Upper bound of the connection pool.
    pub max_connections: u32,
}

impl DatabaseSettings {
    /// The embedded default: `alpes.db` in `data_dir`.
    pub fn embedded(data_dir: &Path, max_connections: u32) -> Self {
        // The URL's path is percent-decoded and ends at `?` or `#`: escape those.
        let path = data_dir
            .join("alpes.db")
            .display()
            .to_string()
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        Self {
            url: format!("sqlite://{path}").into(),
            max_connections,
        }
    }

    pub fn backend(&self) -> anyhow::Result<Backend> {
        Backend::of_url(self.url.expose_secret()).ok_or_else(|| {
            anyhow::anyhow!("DATABASE_URL must start with postgres://, postgresql:// or sqlite://")
        })
    }

    /// Where the data is, without credentials: the SQLite file, or the Postgres host
    /// and database.
    pub fn location(&self) -> String {
        let url = self.url.expose_secret();
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
                let rest = rest.split_once('?').map_or(rest, |(path, _)| path);
                format!("{scheme}://{rest}")
            }
            None => url.split_once('?').map_or(url, |(path, _)| path).to_owned(),
        }
    }

    /// Opens the database (creating a missing Postgres database or SQLite file) and
    /// applies the pending migrations of the main set (the event log, the read models,
    /// the relay's checkpoints).
    pub async fn open(&self) -> anyhow::Result<Database> {
        use anyhow::Context;
        let db = self.connect().await?;
        db.migrate().await.context("applying migrations")?;
        Ok(db)
    }

    /// Opens the database (creating a missing Postgres database or SQLite file) without
    /// migrating it: for a service with a migration set of its own (`alpes tracking`).
    pub async fn connect(&self) -> anyhow::Result<Database> {
        use anyhow::Context;
        if self.backend()? == Backend::Postgres {
            crate::startup::ensure_database(self).await?;
        }
        Database::connect(self.url.expose_secret(), self.max_connections)
            .await
            .with_context(|| format!("opening {}", self.location()))
    }
}

#[cfg(test)]
mod database_tests {
    use super::*;

    #[test]
    fn the_location_shown_in_logs_carries_no_password() {
        let settings = DatabaseSettings {
            url: "postgres://alpes:s3cret@db:5432/alpes?sslmode=disable"
                .to_owned()
                .into(),
            max_connections: 1,
        };
        assert_eq!(settings.location(), "postgres://db:5432/alpes");
        assert_eq!(settings.backend().unwrap(), Backend::Postgres);
        let embedded = DatabaseSettings::embedded(Path::new("./data"), 1);
        assert_eq!(embedded.location(), "sqlite://./data/alpes.db");
        assert_eq!(embedded.backend().unwrap(), Backend::Sqlite);
    }

    #[tokio::test]
    async fn the_embedded_file_is_where_the_data_dir_says_whatever_its_name() {
        let directory = std::env::temp_dir().join(format!("alpes-{}-50% off?#1", std::process::id()));
        let settings = DatabaseSettings::embedded(&directory, 2);

        settings.open().await.unwrap().close().await;

        assert!(directory.join("alpes.db").is_file(), "{}", settings.location());
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn an_unknown_database_url_is_refused() {
        let settings = DatabaseSettings {
            url: "mysql://localhost/alpes".to_owned().into(),
            max_connections: 1,
        };
        assert!(settings.backend().is_err());
    }
}

/// How requests prove who they are (the `auth` crate).
#[derive(Debug, Clone)]
pub enum AuthSettings {
    /// Tokens verified with a configured key (`ALPES_JWT_SECRET` or
    /// `ALPES_JWT_PUBLIC_KEY`).
    Tokens(TokenSettings),
    /// The embedded default, with no key configured: HS256 with the secret kept in
    /// `data_dir` (generated on the first start).
    EmbeddedSecret {
        data_dir: PathBuf,
        issuer: Option<String>,
        audience: Option<String>,
    },
    /// `--insecure-no-auth`: no authentication; the server binds to loopback only.
    Off,
}

/// The token settings in force, and whether this call generated the embedded secret.
pub struct LoadedTokens {
    pub settings: TokenSettings,
    /// Where the secret was just generated (the first start), if it was.
    pub generated: Option<PathBuf>,
}

impl AuthSettings {
    /// The token settings (reading, or on the first start generating, the embedded
    /// secret); `None` when authentication is off.
    pub fn tokens(&self) -> anyhow::Result<Option<LoadedTokens>> {
        use anyhow::Context;
        match self {
            AuthSettings::Off => Ok(None),
            AuthSettings::Tokens(settings) => Ok(Some(LoadedTokens {
                settings: settings.clone(),
                generated: None,
            })),
            AuthSettings::EmbeddedSecret {
                data_dir,
                issuer,
                audience,
            } => {
                let secret = auth::load_or_create_secret(data_dir)
                    .with_context(|| format!("reading the JWT secret in {}", data_dir.display()))?;
                Ok(Some(LoadedTokens {
                    settings: TokenSettings {
                        key: KeySource::Secret(secret.secret),
                        issuer: issuer.clone(),
                        audience: audience.clone(),
                    },
                    generated: secret.created.then_some(secret.path),
                }))
            }
        }
    }
}
