//! [`Application`]: builds the whole service from [`Settings`], then serves until a
//! shutdown signal. Tests build it on port 0 and talk to it over HTTP.

use crate::server::HttpSettings;
use crate::settings::{AuthSettings, BusSettings, CommandTransport, DatabaseSettings, Settings};
use aggregates::campaign::Campaign;
use aggregates::partner::Partner;
use anyhow::Context;
use api::seed::{CommandDesk, SeedCommands};
use api::AppState;
use auth::{Authentication, Issuer, Principal, Role, Verifier};
use bus::commands::{
    spawn_command_consumers, spawn_outcome_consumer, CommandConsumerSettings, CommandConsumers,
    PulsarCommands,
};
use bus::{PulsarTransport, Relay, RelayConfig, RelayTask};
use projections::{Projections, Projector};
use secrecy::ExposeSecret;
use sqlx::migrate::MigrateDatabase;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use store::{AlpesEventStore, CommandExecutor, EventLog};
use store::{CommandQueue, CommandWorker, ConsumerTask, LogWaker, RunCommand};
use tokio::net::TcpListener;
use tracking::TrackingService;

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// The projectors and the embedded command queue's worker. Owned here so that
    /// stopping the application gives their leases
    /// up, and dropping it (as a test does to simulate a crash) aborts them (the relay
    /// likewise, see `run_until_stopped`).
    consumers: Consumers,
    /// The consumers of the seed command topics and of the outcomes topic (Pulsar only).
    command_consumers: Vec<CommandConsumers>,
    /// The outbox relay, unless another process relays.
    relay: Option<RelayTask>,
    /// The tracking service fed by the in-process bus (no `PULSAR_URL`).
    tracking: Option<TrackingService>,
    /// The server's limits and protections.
    http: HttpSettings,
}

impl Application {
    /// Opens the database (creating it if needed), applies migrations, wires the
    /// executors, projectors, relay and bus, and binds the listener (so the port is
    /// known before serving starts).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Before anything records a figure (once per process; `/metrics` renders it).
        observability::metrics::install();
        let authentication = authentication(&settings.auth, settings.legacy_principal.clone())?;
        let bind = listen_address(settings.bind, &authentication);
        let db = settings.database.open().await?;
        if matches!(settings.bus, BusSettings::InProcess) {
            // The in-process tracking service keeps its tables in this database: its
            // migration set applies too, before anything else writes.
            tracking::migrate(&db)
                .await
                .context("applying the tracking service's migrations")?;
        }
        tracing::info!(
            storage = %db.backend(),
            database = %settings.database.location(),
            bus = match &settings.bus {
                BusSettings::InProcess => "in-process",
                BusSettings::Pulsar(_) => "pulsar",
                BusSettings::Off => "off",
            },
            "backends"
        );

        let log = EventLog::new(db.clone());
        let cache = settings.aggregate_cache_capacity;
        let upcasters = aggregates::upcasters::all;
        let waker = LogWaker::spawn(&db);
        let (projections, projectors) = Projections::new(&db, &waker, &settings.projectors, upcasters);
        let mut consumers = Consumers(projectors.into_iter().map(Projector::spawn).collect());
        let (relay, tracking) = match settings.bus {
            BusSettings::Pulsar(pulsar) => {
                tracing::info!(broker = %pulsar.url, "outbox relay publishing to Pulsar");
                let relay = Relay::new(db.clone(), PulsarTransport::new(pulsar), RelayConfig::default())
                    .with_waker(waker.clone())
                    .spawn();
                (Some(relay), None)
            }
            BusSettings::InProcess => {
                tracing::info!("outbox relay feeding the in-process tracking service (/tracking)");
                let (tracking, transport) = TrackingService::start_in_process(db.clone());
                // Its own relay name, so its checkpoint is not the Pulsar relay's: a
                // database moved to Pulsar later publishes its whole log there.
                let relay = Relay::new(db.clone(), transport, RelayConfig::in_process())
                    .with_waker(waker.clone())
                    .spawn();
                (Some(relay), Some(tracking))
            }
            BusSettings::Off => (None, None),
        };
        let campaigns = Arc::new(CommandExecutor::new(
            AlpesEventStore::<Campaign>::new(log.clone(), upcasters(), cache),
            (),
        ));
        let partners = Arc::new(CommandExecutor::new(
            AlpesEventStore::<Partner>::new(log, upcasters(), cache),
            (),
        ));
        // The seed front door's commands: with Pulsar, on its command topics (this process
        // runs the campaign and partner ones; `alpes tracking` the conversions, whose
        // outcomes come back on the outcomes topic); without, the embedded command queue
        // runs them here (conversions through the in-process tracking service).
        let queue = CommandQueue::new(&db);
        let conversions = tracking
            .as_ref()
            .map(|tracking| Arc::new(tracking.conversion_commands()) as Arc<dyn RunCommand>);
        let runs_conversions = conversions.is_some();
        let runner = Arc::new(SeedCommands::new(
            campaigns.clone(),
            partners.clone(),
            conversions,
        ));
        let (desk, command_consumers) = match settings.commands {
            CommandTransport::Pulsar(pulsar, topics) => {
                let consumer_settings = CommandConsumerSettings::from_pulsar(pulsar.clone());
                let commands = spawn_command_consumers(
                    consumer_settings.clone(),
                    topics.serve_subscriptions(),
                    runner,
                    Arc::new(queue.clone()),
                );
                let outcomes =
                    spawn_outcome_consumer(consumer_settings, topics.outcome_subscription(), queue.clone());
                let publisher = Arc::new(PulsarCommands::new(pulsar, topics));
                let handles = vec![commands.handle(), outcomes.handle()];
                let desk = CommandDesk::brokered(queue, publisher, handles);
                (desk, vec![commands, outcomes])
            }
            CommandTransport::Embedded => {
                // Owned with the projectors: stopped (its lease given up) or aborted with them.
                let worker = CommandWorker::new(queue.clone(), runner);
                let counters = worker.counters();
                consumers.0.push(worker.spawn());
                (
                    CommandDesk::embedded(queue, counters, runs_conversions),
                    Vec::new(),
                )
            }
        };
        let desk = desk.with_request_timeout(settings.http.request_timeout);
        let state = AppState {
            campaigns,
            partners,
            projections,
            consistency_timeout: settings.consistency_timeout,
            relay: relay.as_ref().map(RelayTask::handle),
            db,
            commands: desk,
        };
        // With the in-process bus, the tracking service's routes (/tracking/...) are
        // served on this listener.
        let extra = tracking
            .as_ref()
            .map(|tracking| tracking.routes_only(&authentication))
            .unwrap_or_default();
        let router = api::router_with(state, &authentication, extra);

        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        tracing::info!(address = %listener.local_addr()?, "listening");
        Ok(Self {
            listener,
            router,
            consumers,
            command_consumers,
            relay,
            tracking,
            http: settings.http,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|address| address.port())
            .unwrap_or_default()
    }

    /// Serves until Ctrl-C or SIGTERM, then lets requests in flight finish.
    ///
    /// Dropping this future before it ends (a test's stand-in for a crash) stops the
    /// projectors and the relay at once, like a dead process: nothing is flushed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        // Held until serving ends; dropped before (a crash), they abort the projectors.
        let consumers = self.consumers;
        let _crash = self.relay.as_ref().map(|relay| AbortOnDrop(relay.abort_handle()));
        let relay = self.relay;
        let tracking = self.tracking;
        let command_consumers = self.command_consumers;
        crate::server::serve(self.listener, self.router, &self.http, shutdown_signal()).await?;
        if let Some(relay) = relay {
            // Lets the sends in flight get their receipts, so a restart resends less.
            relay.shutdown().await;
        }
        if let Some(tracking) = tracking {
            tracking.shutdown().await;
        }
        for command_consumer in command_consumers {
            command_consumer.shutdown().await;
        }
        // Their leases go now, so a restarted process leads at once (on SQLite a lease
        // left behind lasts until it expires, unless its holder is seen to be dead).
        consumers.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// How long the admin token printed on the embedded default's first start is valid.
const FIRST_START_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// The services' authentication, from its settings. On the embedded default's first
/// start (its secret just generated) it prints a ready admin token, once, on stdout
/// beside the log lines but not through the logger (so no log field or filter carries
/// it; later tokens come from `alpes token issue`). A deployment whose output is
/// collected sets `ALPES_JWT_SECRET`, and nothing is printed.
pub fn authentication(settings: &AuthSettings, legacy: Option<Principal>) -> anyhow::Result<Authentication> {
    let Some(tokens) = settings.tokens()? else {
        tracing::warn!(
            "authentication is OFF (--insecure-no-auth): every request acts as an admin; \
             listening on loopback only"
        );
        return Ok(Authentication::insecure_off());
    };
    let mut authentication = Authentication::tokens(Verifier::new(&tokens.settings)?);
    if let Some(path) = &tokens.generated {
        let admin = Principal::new("first-start-admin", Role::Admin);
        let token = Issuer::new(&tokens.settings)?.issue(&admin, FIRST_START_TOKEN_TTL)?;
        println!(
            "\nFirst start: generated the token signing secret {} (mode 0600).\n\
             An admin token, valid for 24 hours (more with `alpes token issue --role admin`):\n\n\
             ALPES_TOKEN={token}\n",
            path.display()
        );
    }
    if let Some(legacy) = legacy {
        tracing::warn!(
            sub = %legacy.sub,
            role = %legacy.role,
            "the seed's BFF routes are open without a token (ALPES_BFF_OPEN): such requests act as this principal"
        );
        authentication = authentication.with_legacy_principal(legacy);
    }
    Ok(authentication)
}

/// Where to listen: `bind`, except that with authentication off only this machine may
/// connect (loopback, same port).
pub fn listen_address(bind: SocketAddr, authentication: &Authentication) -> SocketAddr {
    if authentication.is_off() && !bind.ip().is_loopback() {
        tracing::warn!(%bind, "authentication is off: listening on 127.0.0.1 instead");
        return SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bind.port());
    }
    bind
}

/// The tasks that follow the database (the projectors, the command queue's worker):
/// aborted when dropped, as a crash would stop them, unless
/// shut down first.
struct Consumers(Vec<ConsumerTask>);

impl Consumers {
    async fn shutdown(mut self) {
        for consumer in std::mem::take(&mut self.0) {
            consumer.shutdown().await;
        }
    }
}

impl Drop for Consumers {
    fn drop(&mut self) {
        for consumer in &self.0 {
            consumer.abort_handle().abort();
        }
    }
}

/// Aborts a task when dropped (a relay is otherwise detached when its handle is
/// dropped). After a graceful shutdown the task has ended and this does nothing.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Creates the Postgres database named in the URL if it does not exist, so a fresh
/// machine with only Postgres installed can start the service.
pub async fn ensure_database(database: &DatabaseSettings) -> anyhow::Result<()> {
    let url = database.url.expose_secret();
    if !sqlx::Postgres::database_exists(url)
        .await
        .context("connecting to Postgres")?
    {
        sqlx::Postgres::create_database(url)
            .await
            .context("creating the database")?;
        tracing::info!("created the database");
    }
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
