//! The tracking service: records clicks and conversions for the partners of active
//! campaigns, knowing which campaigns are active and who takes part only from the
//! integration events it consumes (never from the write side's tables): from Pulsar, or,
//! when `alpes serve` runs without a broker, from the in-process bus its relay feeds.
//!
//! ```text
//!  campaign-events ─┐  Key_Shared "tracking"    applied_events (idempotency)
//!  partner-events  ─┴─> consumer (per topic) ──> campaigns / participants / partners
//!                        │ undecodable: nack → dead-letter topic after N redeliveries
//!  in-process bus ─────> TrackingSubscriber ──┘ (same view; undecodable: dead-letter table)
//!  POST /tracking/clicks, /conversions ──check the view──> clicks / conversions
//!  GET  /tracking/campaigns/{id}/stats, /tracking/status
//! ```
//!
//! Both storage backends hold the same tables (Postgres: schema `tracking`; SQLite:
//! tables prefixed `tracking_`), created by tracking's own migration set
//! (`migrations/tracking/`, [`migrate`]): a database of `alpes tracking` holds nothing
//! else. The logic is written once; each backend implements the one storage trait in its
//! own folder, with its SQL beside it.
//!
//! ```no_run
//! # async fn run(database: store::Database) -> std::io::Result<()> {
//! use tracking::{TrackingConfig, TrackingService};
//! tracking::migrate(&database).await.expect("the tracking tables");
//! let service = TrackingService::start(database, TrackingConfig::new("pulsar://127.0.0.1:6650"));
//! let listener = tokio::net::TcpListener::bind(tracking::DEFAULT_BIND).await?;
//! let secret = auth::TokenSettings::secret("a-secret-of-at-least-thirty-two-bytes");
//! let authentication = auth::Authentication::tokens(auth::Verifier::new(&secret).unwrap());
//! axum::serve(listener, service.router(&authentication)).await?;
//! service.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! On the in-process bus instead (in `alpes serve`, routes merged into its router):
//!
//! ```no_run
//! # async fn run(database: store::Database) {
//! use bus::{Relay, RelayConfig};
//! use tracking::TrackingService;
//! tracking::migrate(&database).await.expect("the tracking tables");
//! let (service, transport) = TrackingService::start_in_process(database.clone());
//! let _relay = Relay::new(database, transport, RelayConfig::in_process()).spawn();
//! # let authentication = auth::Authentication::insecure_off();
//! let _routes = service.routes_only(&authentication); // merge into the application's router
//! # }
//! ```
//!
//! # Layout
//! - [`config`]: [`TrackingConfig`] (Pulsar URL, topics, subscription, dead-letter topic).
//! - [`consumer`]: the Pulsar consumers that feed the view, their status, and `handle`,
//!   what a message does to the view (shared with the in-process feed).
//! - [`in_process`]: [`TrackingSubscriber`], the view's feed from the in-process bus.
//! - `commands`: [`ConversionCommands`], which runs the seed front door's conversion
//!   commands as `POST /tracking/conversions` would.
//! - [`command_consumer`]: the Pulsar consumer of those commands
//!   ([`TrackingService::start_conversion_commands`]), outcomes to the outcomes topic.
//! - [`view`]: applying an integration event to the view, once (the logic, written once).
//! - [`http`]: the routes: [`http::records`] (clicks, conversions), [`http::stats`],
//!   [`http::status`], [`http::problem`] (`TrackingError` and the problem+json answer of
//!   each, built by the `problem` crate the command API shares), [`http::extract`] (bodies).
//!   The handlers map the storage's types to their answers.
//! - `storage`: `TrackingStore`, the one trait of the service's storage (and `ViewWrite`,
//!   the statements of applying one event in its transaction), with the types it reads
//!   and writes; database errors are told apart by [`store::DbFault`].
//! - `postgres`, `sqlite`: each backend's `TrackingStore`, with its `.sql` files beside it
//!   (`tracking/src/postgres/`, `tracking/src/sqlite/`); the only code that knows which
//!   backend it runs on.
//! - Tables: `migrations/tracking/postgres/` and `migrations/tracking/sqlite/`, applied by
//!   [`migrate`].

pub mod command_consumer;
mod commands;
pub mod config;
pub mod consumer;
pub mod http;
pub mod in_process;
mod postgres;
mod sqlite;
mod storage;
pub mod view;

pub use commands::ConversionCommands;
pub use config::{TrackingConfig, DEFAULT_BIND, DEFAULT_DEAD_LETTER_TOPIC, DEFAULT_SUBSCRIPTION};
pub use consumer::{ConsumerHandle, ConsumerTask};
pub use http::{router, Feed, TrackingState};
pub use in_process::TrackingSubscriber;

use bus::{InProcessConfig, InProcessTransport};
use std::sync::Arc;
use store::Database;

/// Creates or updates the tracking service's tables in `database` (tracking's own
/// migration set, `migrations/tracking/`; never the write side's tables). The process
/// that runs the service applies it before starting it: `alpes tracking` on its
/// database, `alpes serve` on its own when the service runs there on the in-process bus.
pub async fn migrate(database: &Database) -> Result<(), sqlx::migrate::MigrateError> {
    storage::open(database).migrate().await
}

/// The service: what feeds it (Pulsar consumers in the background, or a subscriber of the
/// in-process bus), and its routes.
pub struct TrackingService {
    state: TrackingState,
    running: Running,
    /// The conversion-command consumer, once started.
    commands: Option<bus::commands::CommandConsumers>,
}

enum Running {
    Pulsar(ConsumerTask),
    InProcess(Arc<TrackingSubscriber>),
}

impl TrackingService {
    /// Starts consuming the Pulsar topics (the tracking tables must exist: [`migrate`]
    /// first). Takes a [`Database`] (a `PgPool` converts into one).
    pub fn start(database: impl Into<Database>, config: TrackingConfig) -> TrackingService {
        let database = database.into();
        let store = storage::open(&database);
        let feed = Feed::Pulsar {
            dead_letter_topic: config.dead_letter_topic.clone(),
        };
        let subscription = config.subscription.clone();
        let consumers = consumer::spawn(store.clone(), Arc::new(config));
        let state = TrackingState {
            store,
            subscription,
            feed,
            consumer: consumers.handle(),
            commands: Arc::default(),
            database,
        };
        TrackingService {
            state,
            running: Running::Pulsar(consumers),
            commands: None,
        }
    }

    /// The service fed by a new in-process bus, with its default settings: give the
    /// returned transport to the relay (`bus::Relay::new(database, transport,
    /// bus::RelayConfig::in_process())`), which then delivers every committed event here.
    pub fn start_in_process(database: impl Into<Database>) -> (TrackingService, InProcessTransport) {
        let transport = InProcessTransport::new(InProcessConfig::default());
        let service = Self::subscribe_in_process(database, &transport);
        (service, transport)
    }

    /// The service fed by an existing in-process bus (subscribe before the relay starts;
    /// the tracking tables must exist: [`migrate`] first).
    pub fn subscribe_in_process(
        database: impl Into<Database>,
        transport: &InProcessTransport,
    ) -> TrackingService {
        let database = database.into();
        let store = storage::open(&database);
        let subscription = DEFAULT_SUBSCRIPTION.to_owned();
        let (subscriber, progress) = TrackingSubscriber::new(store.clone(), subscription.clone());
        let subscriber = Arc::new(subscriber);
        transport.subscribe(subscriber.clone());
        let state = TrackingState {
            store,
            subscription,
            feed: Feed::InProcess,
            consumer: ConsumerHandle::new(vec![progress]),
            commands: Arc::default(),
            database,
        };
        TrackingService {
            state,
            running: Running::InProcess(subscriber),
            commands: None,
        }
    }

    /// The HTTP routes (`/tracking/...`) behind `authentication` ([`http::RULES`]), to
    /// serve alone.
    pub fn router(&self, authentication: &auth::Authentication) -> axum::Router {
        http::router(self.state.clone(), authentication)
    }

    /// The `/tracking/...` routes behind `authentication`, without fallbacks, to merge
    /// into another router.
    pub fn routes_only(&self, authentication: &auth::Authentication) -> axum::Router {
        http::routes_only(self.state.clone(), authentication)
    }

    /// What runs the seed front door's conversion commands against this service.
    pub fn conversion_commands(&self) -> ConversionCommands {
        ConversionCommands::new(self.state.store.clone())
    }

    /// Starts consuming the conversion commands on Pulsar (`alpes tracking`): topic
    /// `topics.register_conversion`, subscription `sub-com-registrar-evento-conversion`,
    /// outcomes published to `topics.outcomes`. Its counts then show in
    /// `GET /tracking/status` (`command_consumers`), and [`TrackingService::shutdown`]
    /// stops it. Started once: a second call answers the running consumer's handle.
    pub fn start_conversion_commands(
        &mut self,
        settings: bus::commands::CommandConsumerSettings,
        topics: &bus::commands::CommandTopics,
    ) -> bus::commands::CommandConsumersHandle {
        if let Some(running) = &self.commands {
            return running.handle();
        }
        let consumers =
            command_consumer::spawn_conversion_consumer(self.conversion_commands(), settings, topics);
        let handle = consumers.handle();
        let _ = self.state.commands.set(handle.clone());
        self.commands = Some(consumers);
        handle
    }

    /// The conversion-command consumer's status, once started.
    pub fn command_consumers(&self) -> Option<bus::commands::CommandConsumersHandle> {
        self.commands.as_ref().map(|consumers| consumers.handle())
    }

    pub fn consumers(&self) -> ConsumerHandle {
        self.state.consumer.clone()
    }

    /// Which feed the service consumes.
    pub fn feed(&self) -> &Feed {
        &self.state.feed
    }

    /// Stops consuming: the Pulsar consumers after the message each has in hand; the
    /// in-process subscriber refuses later deliveries (the relay keeps them for later).
    pub async fn shutdown(self) {
        if let Some(commands) = self.commands {
            commands.shutdown().await;
        }
        match self.running {
            Running::Pulsar(consumers) => consumers.shutdown().await,
            Running::InProcess(subscriber) => subscriber.stop(),
        }
    }

    /// Stops at once, as a crash would (for tests).
    pub async fn abort(self) {
        if let Some(commands) = self.commands {
            commands.abort().await;
        }
        match self.running {
            Running::Pulsar(consumers) => consumers.abort().await,
            Running::InProcess(subscriber) => subscriber.stop(),
        }
    }
}
