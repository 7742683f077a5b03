//! The command line: `alpes serve` (the default), `alpes relay`, `alpes tracking`,
//! `alpes migrate` and `alpes projections …`.
//! Every flag can also be set by the environment variable named in `--help`.

use crate::server::{HttpSettings, DEFAULT_POSTGRES_RATE_LIMIT};
use crate::settings::{
    parse_duration, parse_timeout, AuthSettings, BusSettings, CommandTransport, DatabaseSettings, Settings,
};
use crate::startup::Application;
use crate::telemetry::LogFormat;
use anyhow::Context;
use auth::{KeySource, Principal, Role, TokenSettings};
use clap::{Args, Parser, Subcommand};
use projections::ProjectorSettings;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;
use store::Backend;

#[derive(Debug, Parser)]
#[command(
    name = "alpes",
    version,
    about = "Alpes Partners: event-sourced campaigns and partners"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Log format.
    #[arg(long, env = "ALPES_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default command). Applies pending migrations first.
    Serve(ServeArgs),
    /// Run the outbox relay alone: publish committed events to Pulsar.
    Relay(RelayArgs),
    /// Run the tracking service: clicks and conversions, fed by the Pulsar topics.
    Tracking(TrackingArgs),
    /// Apply pending database migrations and exit (the tracking service's too, which
    /// `alpes serve` runs on the same database without a broker).
    Migrate(DatabaseArgs),
    /// Inspect and rebuild the read models.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
    /// Bearer tokens for the API.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a token signed with the configured secret (ALPES_JWT_SECRET, or the
    /// embedded default's secret in --data-dir).
    Issue(IssueArgs),
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// What the token may do: admin, brand, partner, tracker or reader.
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// The brand a brand token acts for.
    #[arg(long, required_if_eq("role", "brand"))]
    pub brand_id: Option<String>,
    /// The partner a partner token acts for (the partner's id).
    #[arg(long, required_if_eq("role", "partner"))]
    pub partner_id: Option<String>,
    /// The token's subject, as the event log records it (default: `cli-<role>`).
    #[arg(long)]
    pub sub: Option<String>,
    /// How long the token is valid (e.g. 24h, 30m, 3600s).
    #[arg(long, default_value = "24h", value_parser = parse_ttl)]
    pub ttl: Duration,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// The embedded default's data directory, where its secret is.
    #[arg(long, env = "ALPES_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, hide = true)]
    pub database_url: Option<SecretString>,
}

/// How requests prove who they are (`alpes serve`, `alpes tracking`, `alpes token`).
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// HS256 secret the bearer tokens are signed with (at least 32 bytes).
    #[arg(
        long,
        env = "ALPES_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_public_key"
    )]
    pub jwt_secret: Option<SecretString>,
    /// An identity provider's public key (PEM; Ed25519 for EdDSA, or RSA for RS256):
    /// tokens are verified with it, and issued by the provider.
    #[arg(long, env = "ALPES_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,
    /// The `iss` tokens must have, when set.
    #[arg(long, env = "ALPES_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// The `aud` tokens must name, when set.
    #[arg(long, env = "ALPES_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// No authentication at all (development only): every request acts as an admin,
    /// and the server listens on loopback only.
    #[arg(long, env = "ALPES_INSECURE_NO_AUTH", conflicts_with_all = ["jwt_secret", "jwt_public_key"])]
    pub insecure_no_auth: bool,
}

/// The seed's front door for legacy clients (`alpes serve`).
#[derive(Debug, Clone, Args)]
pub struct BffArgs {
    /// Keep the seed's BFF routes (`/crear-campaign`, ...) open to requests without a
    /// token, for legacy clients on a private network; they act as --bff-subject.
    #[arg(long, env = "ALPES_BFF_OPEN")]
    pub bff_open: bool,
    /// The subject those requests act as, as the event log records it.
    #[arg(long, env = "ALPES_BFF_SUBJECT", default_value = "legacy-bff")]
    pub bff_subject: String,
    /// The role those requests act with, required with --bff-open: `admin` keeps every
    /// seed route working as the seed's BFF did; `brand` (with --bff-brand-id) limits
    /// them to one brand.
    #[arg(long, env = "ALPES_BFF_ROLE", value_parser = parse_role)]
    pub bff_role: Option<Role>,
    /// The brand they act for, with --bff-role brand.
    #[arg(long, env = "ALPES_BFF_BRAND_ID")]
    pub bff_brand_id: Option<String>,
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text.trim())
        .ok_or_else(|| format!("'{text}' is not a role: admin, brand, partner, tracker or reader"))
}

/// A token's lifetime: `24h`, `30m`, or what [`parse_timeout`] reads.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let hours_or_minutes = |suffix: char, seconds: u64| {
        text.strip_suffix(suffix)
            .and_then(|number| number.trim().parse::<u64>().ok())
            .filter(|number| *number > 0)
            .and_then(|number| number.checked_mul(seconds))
            .map(Duration::from_secs)
    };
    hours_or_minutes('h', 3600)
        .or_else(|| hours_or_minutes('m', 60).filter(|_| !text.ends_with("ms")))
        .map_or_else(|| parse_timeout(text), Ok)
}

impl AuthArgs {
    /// The settings: the configured key; without one, the embedded default's secret in
    /// `data_dir` on SQLite, and a refusal on Postgres (a shared deployment must not run
    /// open by accident).
    pub fn settings(self, backend: Backend, data_dir: &std::path::Path) -> anyhow::Result<AuthSettings> {
        if self.insecure_no_auth {
            return Ok(AuthSettings::Off);
        }
        let key = match (self.jwt_secret, self.jwt_public_key) {
            (Some(secret), _) => Some(KeySource::Secret(secret)),
            (None, Some(path)) => {
                let pem = std::fs::read(&path)
                    .with_context(|| format!("reading the JWT public key {}", path.display()))?;
                Some(KeySource::PublicKey { path, pem })
            }
            (None, None) => None,
        };
        match (key, backend) {
            (Some(key), _) => Ok(AuthSettings::Tokens(TokenSettings {
                key,
                issuer: self.jwt_issuer,
                audience: self.jwt_audience,
            })),
            (None, Backend::Sqlite) => Ok(AuthSettings::EmbeddedSecret {
                data_dir: data_dir.to_owned(),
                issuer: self.jwt_issuer,
                audience: self.jwt_audience,
            }),
            (None, Backend::Postgres) => anyhow::bail!(
                "no token key is configured: on Postgres, set ALPES_JWT_SECRET (at least 32 bytes, \
                 e.g. `openssl rand -base64 32`) or ALPES_JWT_PUBLIC_KEY (an identity provider's \
                 public key); or, for a development server on this machine only, pass \
                 --insecure-no-auth"
            ),
        }
    }
}

impl BffArgs {
    /// The principal the open BFF routes act as, when they are open.
    pub fn legacy_principal(self) -> anyhow::Result<Option<Principal>> {
        if !self.bff_open {
            return Ok(None);
        }
        let Some(role) = self.bff_role else {
            anyhow::bail!(
                "--bff-open needs --bff-role (ALPES_BFF_ROLE): the role requests without a token act with \
                 (admin, as the seed's BFF did, or brand with --bff-brand-id)"
            );
        };
        let principal = Principal {
            brand_id: self.bff_brand_id,
            ..Principal::new(self.bff_subject, role)
        };
        match principal.role {
            Role::Brand if principal.brand_id.is_none() => {
                anyhow::bail!("--bff-role brand needs --bff-brand-id (ALPES_BFF_BRAND_ID)")
            }
            Role::Partner => anyhow::bail!("--bff-role partner is not supported: the BFF acted for brands"),
            _ => Ok(Some(principal)),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsCommand {
    /// Show every projector: state, checkpoint, head, lag, last error.
    Status(DatabaseArgs),
    /// Rebuild a view from the log into shadow tables and swap it in; the live view
    /// keeps serving meanwhile. Shows progress (events/s, ETA).
    Rebuild {
        /// The projection: `campaigns` or `partners`.
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// The database: `postgres://user@host:5432/alpes` (created if it does not exist)
    /// or `sqlite://path/to/file.db`. Without it: the embedded SQLite file
    /// `alpes.db` in `--data-dir`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// Where the embedded database lives when no `DATABASE_URL` is given.
    #[arg(long, env = "ALPES_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Maximum number of database connections.
    #[arg(long, env = "ALPES_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = "ALPES_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// Aggregates kept in memory per aggregate type (0 disables the cache).
    #[arg(long, env = "ALPES_AGGREGATE_CACHE", default_value_t = 10_000)]
    pub aggregate_cache: usize,
    /// How long a query with `min_position` waits for the views (e.g. 5s, 500ms).
    #[arg(long, env = "ALPES_CONSISTENCY_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub consistency_timeout: Duration,
    /// Pulsar broker (pulsar://host:6650): the outbox relay publishes there, for
    /// `alpes tracking` and other consumers. Without it, the relay feeds the tracking
    /// service of this process through an in-process bus (`/tracking/...` on this
    /// listener).
    #[arg(long, env = "PULSAR_URL")]
    pub pulsar_url: Option<String>,
    #[command(flatten)]
    pub pulsar_auth: PulsarAuthArgs,
    /// Run no outbox relay in this process (another process relays: `alpes relay`).
    #[arg(long, env = "ALPES_NO_RELAY")]
    pub no_relay: bool,
    #[command(flatten)]
    pub topics: TopicArgs,
    #[command(flatten)]
    pub command_topics: CommandTopicArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub bff: BffArgs,
}

/// The HTTP server's limits and protections (`alpes serve` and `alpes tracking`).
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Time for a request's head to arrive, from its first byte; then the connection
    /// is closed.
    #[arg(long, env = "ALPES_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub header_timeout: Duration,
    /// Time for a request's body to arrive; then a 408 problem.
    #[arg(long, env = "ALPES_BODY_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub body_timeout: Duration,
    /// How long a connection with no request in progress stays open.
    #[arg(long, env = "ALPES_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_timeout)]
    pub idle_timeout: Duration,
    /// Time for a whole request, once its head has arrived; then a 503 problem.
    #[arg(long, env = "ALPES_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    pub request_timeout: Duration,
    /// Connections open at once; more wait to be accepted.
    #[arg(long, env = "ALPES_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Requests in progress at once; more are refused with a 503 problem.
    #[arg(long, env = "ALPES_MAX_REQUESTS", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: u64,
    /// Requests per second per client IP address (as many in a burst), or `off`.
    /// Default: off on the embedded database, 1000 on Postgres.
    #[arg(long, env = "ALPES_RATE_LIMIT", value_parser = parse_rate_limit)]
    pub rate_limit: Option<RateLimit>,
    /// Origins allowed to call the API from a browser (CORS), comma-separated, or
    /// `*`. Default: none (no CORS headers).
    #[arg(long, env = "ALPES_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
}

/// `--rate-limit`: `off`, or requests per second.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit(Option<NonZeroU32>);

fn parse_rate_limit(text: &str) -> Result<RateLimit, String> {
    match text.trim() {
        "off" | "0" => Ok(RateLimit(None)),
        number => number
            .parse::<NonZeroU32>()
            .map(|rate| RateLimit(Some(rate)))
            .map_err(|_| format!("'{text}' is not a rate limit: a number of requests per second, or off")),
    }
}

fn parse_origin(text: &str) -> Result<String, String> {
    let origin = text.trim();
    let valid = origin == "*"
        || ((origin.starts_with("http://") || origin.starts_with("https://"))
            && origin.bytes().all(|byte| byte.is_ascii_graphic()));
    if valid {
        Ok(origin.to_owned())
    } else {
        Err(format!(
            "'{text}' is not an origin like https://app.example.com, or *"
        ))
    }
}

impl HttpArgs {
    /// The settings, with the rate limit's default for `backend`.
    pub fn settings(self, backend: Backend) -> HttpSettings {
        let rate_limit = match (self.rate_limit, backend) {
            (Some(RateLimit(rate)), _) => rate,
            // A production deployment: generous, against a runaway client.
            (None, Backend::Postgres) => NonZeroU32::new(DEFAULT_POSTGRES_RATE_LIMIT),
            // One machine, usually one user: nothing to share fairly.
            (None, Backend::Sqlite) => None,
        };
        HttpSettings {
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            idle_timeout: self.idle_timeout,
            request_timeout: self.request_timeout,
            max_connections: self.max_connections,
            max_requests: usize::try_from(self.max_requests).unwrap_or(usize::MAX),
            rate_limit,
            cors_origins: self.cors_origins,
        }
    }
}

/// The topics the integration events go to.
#[derive(Debug, Clone, Args)]
pub struct TopicArgs {
    /// Topic of the campaign events.
    #[arg(long, env = "ALPES_CAMPAIGN_TOPIC", default_value = bus::DEFAULT_CAMPAIGN_TOPIC)]
    pub campaign_topic: String,
    /// Topic of the partner events.
    #[arg(long, env = "ALPES_PARTNER_TOPIC", default_value = bus::DEFAULT_PARTNER_TOPIC)]
    pub partner_topic: String,
}

/// The credentials for a Pulsar broker that requires token authentication (`alpes serve`,
/// `alpes relay` and `alpes tracking`). The token is a secret: redacted in Debug output and
/// in `--help`, never logged; a file suits mounted secrets (Kubernetes, Docker).
#[derive(Debug, Clone, Args)]
pub struct PulsarAuthArgs {
    /// Token for a broker that requires token authentication (usually a JWT).
    #[arg(
        long,
        env = "PULSAR_TOKEN",
        hide_env_values = true,
        conflicts_with = "pulsar_token_file"
    )]
    pub pulsar_token: Option<SecretString>,
    /// File holding that token (its content, trimmed), instead of `--pulsar-token`.
    #[arg(long, env = "PULSAR_TOKEN_FILE")]
    pub pulsar_token_file: Option<PathBuf>,
}

impl PulsarAuthArgs {
    /// The token, if one was given, read from its file when given that way. A file that
    /// cannot be read, or a token that is blank, is an error at startup (rather than a
    /// broker refusing every connection later); the error names the file, never its content.
    pub fn token(self) -> anyhow::Result<Option<SecretString>> {
        use secrecy::ExposeSecret;
        let (token, source) = match (self.pulsar_token, self.pulsar_token_file) {
            (Some(token), _) => (token, "--pulsar-token (PULSAR_TOKEN)".to_owned()),
            (None, Some(path)) => {
                let content = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading the Pulsar token file {}", path.display()))?;
                let content = SecretString::from(content);
                let token = SecretString::from(content.expose_secret().trim());
                (token, format!("the Pulsar token file {}", path.display()))
            }
            (None, None) => return Ok(None),
        };
        anyhow::ensure!(!token.expose_secret().trim().is_empty(), "{source} is empty");
        Ok(Some(token))
    }
}

#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Pulsar broker (pulsar://host:6650).
    #[arg(long, env = "PULSAR_URL")]
    pub pulsar_url: String,
    #[command(flatten)]
    pub pulsar_auth: PulsarAuthArgs,
    #[command(flatten)]
    pub topics: TopicArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct TrackingArgs {
    /// Address the tracking API listens on.
    #[arg(long, env = "ALPES_TRACKING_BIND", default_value = tracking::DEFAULT_BIND)]
    pub bind: SocketAddr,
    /// Pulsar broker (pulsar://host:6650).
    #[arg(long, env = "PULSAR_URL", default_value = "pulsar://127.0.0.1:6650")]
    pub pulsar_url: String,
    #[command(flatten)]
    pub pulsar_auth: PulsarAuthArgs,
    #[command(flatten)]
    pub topics: TopicArgs,
    #[command(flatten)]
    pub command_topics: CommandTopicArgs,
    /// Durable Key_Shared subscription the service consumes through.
    #[arg(long, env = "ALPES_TRACKING_SUBSCRIPTION", default_value = tracking::DEFAULT_SUBSCRIPTION)]
    pub subscription: String,
    /// Where messages it cannot process go, after a few redeliveries.
    #[arg(long, env = "ALPES_TRACKING_DEAD_LETTER_TOPIC", default_value = tracking::DEFAULT_DEAD_LETTER_TOPIC)]
    pub dead_letter_topic: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
}

/// The topics of the seed front door's commands (`alpes serve` publishes them and runs
/// the campaign and partner ones, `alpes tracking` runs the conversions) and of their
/// outcomes (`alpes tracking` publishes them, `alpes serve` stores them).
#[derive(Debug, Clone, Args)]
pub struct CommandTopicArgs {
    /// Topic of the campaign registrations (`POST /crear-campaign`).
    #[arg(long, env = "ALPES_REGISTER_CAMPAIGN_TOPIC", default_value = bus::commands::DEFAULT_REGISTER_CAMPAIGN_TOPIC)]
    pub register_campaign_topic: String,
    /// Topic of the campaign cancellations (`/eliminar-campaign/{id}`).
    #[arg(long, env = "ALPES_CANCEL_CAMPAIGN_TOPIC", default_value = bus::commands::DEFAULT_CANCEL_CAMPAIGN_TOPIC)]
    pub cancel_campaign_topic: String,
    /// Topic of the partner registrations (`POST /crear-partner`).
    #[arg(long, env = "ALPES_REGISTER_PARTNER_TOPIC", default_value = bus::commands::DEFAULT_REGISTER_PARTNER_TOPIC)]
    pub register_partner_topic: String,
    /// Topic of the conversions (`POST /registrar-evento`), run by `alpes tracking`.
    #[arg(long, env = "ALPES_REGISTER_CONVERSION_TOPIC", default_value = bus::commands::DEFAULT_REGISTER_CONVERSION_TOPIC)]
    pub register_conversion_topic: String,
    /// Topic on which `alpes tracking` sends the outcomes of the commands it ran.
    #[arg(long, env = "ALPES_COMMAND_OUTCOMES_TOPIC", default_value = bus::commands::DEFAULT_OUTCOMES_TOPIC)]
    pub command_outcomes_topic: String,
}

impl From<CommandTopicArgs> for bus::commands::CommandTopics {
    fn from(args: CommandTopicArgs) -> Self {
        bus::commands::CommandTopics {
            register_campaign: args.register_campaign_topic,
            cancel_campaign: args.cancel_campaign_topic,
            register_partner: args.register_partner_topic,
            register_conversion: args.register_conversion_topic,
            outcomes: args.command_outcomes_topic,
        }
    }
}

impl TopicArgs {
    fn pulsar(self, url: String, token: Option<SecretString>) -> bus::PulsarSettings {
        bus::PulsarSettings {
            campaign_topic: self.campaign_topic,
            partner_topic: self.partner_topic,
            token,
            ..bus::PulsarSettings::new(url)
        }
    }
}

impl DatabaseArgs {
    pub(crate) fn settings(self) -> DatabaseSettings {
        match self.database_url {
            Some(url) => DatabaseSettings {
                url,
                max_connections: self.db_max_connections,
            },
            None => DatabaseSettings::embedded(&self.data_dir, self.db_max_connections),
        }
    }
}

/// Runs the command the user asked for.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // `alpes` alone serves with every default (and the environment).
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeArgs::parse_from_env()));
    match command {
        Command::Serve(args) => {
            let backend = args.database.clone().settings().backend()?;
            let auth = args.auth.settings(backend, &args.database.data_dir)?;
            let legacy_principal = args.bff.legacy_principal()?;
            let database = args.database.settings();
            let pulsar_token = args.pulsar_auth.token()?;
            let settings = Settings {
                auth,
                legacy_principal,
                http: args.http.settings(database.backend()?),
                bind: args.bind,
                aggregate_cache_capacity: args.aggregate_cache,
                consistency_timeout: args.consistency_timeout,
                projectors: ProjectorSettings::default(),
                commands: match &args.pulsar_url {
                    Some(url) => CommandTransport::Pulsar(
                        args.topics.clone().pulsar(url.clone(), pulsar_token.clone()),
                        args.command_topics.into(),
                    ),
                    None => CommandTransport::Embedded,
                },
                bus: match (args.no_relay, args.pulsar_url) {
                    (true, _) => BusSettings::Off,
                    (false, Some(url)) => BusSettings::Pulsar(args.topics.pulsar(url, pulsar_token)),
                    (false, None) => BusSettings::InProcess,
                },
                database,
            };
            Application::build(settings).await?.run_until_stopped().await
        }
        Command::Relay(args) => {
            let pulsar = args.topics.pulsar(args.pulsar_url, args.pulsar_auth.token()?);
            crate::services::relay(args.database.settings(), pulsar).await
        }
        Command::Tracking(args) => {
            let config = tracking::TrackingConfig {
                campaign_topic: args.topics.campaign_topic,
                partner_topic: args.topics.partner_topic,
                subscription: args.subscription,
                dead_letter_topic: args.dead_letter_topic,
                token: args.pulsar_auth.token()?,
                ..tracking::TrackingConfig::new(args.pulsar_url)
            };
            let auth = args.auth.settings(
                args.database.clone().settings().backend()?,
                &args.database.data_dir,
            )?;
            let database = args.database.settings();
            let http = args.http.settings(database.backend()?);
            let command_topics = args.command_topics.into();
            crate::services::tracking(database, args.bind, config, command_topics, http, auth).await
        }
        Command::Projections { command } => crate::operations::projections(command).await,
        Command::Token {
            command: TokenCommand::Issue(args),
        } => crate::operations::issue_token(args),
        Command::Migrate(args) => {
            let database = args.settings();
            let db = database.open().await?;
            // The tables `alpes serve` needs: with the in-process bus (its default) it runs
            // the tracking service on this database. (`alpes tracking` applies its own.)
            tracking::migrate(&db)
                .await
                .context("applying the tracking service's migrations")?;
            db.close().await;
            tracing::info!(database = %database.location(), "migrations applied");
            Ok(())
        }
    }
}

impl ServeArgs {
    /// The `serve` arguments when no subcommand was given: defaults and environment.
    fn parse_from_env() -> Self {
        #[derive(Parser)]
        struct Serve {
            #[command(flatten)]
            args: ServeArgs,
        }
        Serve::parse_from(["alpes"]).args
    }
}
