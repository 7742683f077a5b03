//! `alpes relay` and `alpes tracking`: the services that run on their own, next to
//! (or instead of) `alpes serve`.

use crate::server::HttpSettings;
use crate::settings::{AuthSettings, DatabaseSettings};
use crate::startup::shutdown_signal;
use anyhow::Context;
use std::net::SocketAddr;

/// The outbox relay alone, until Ctrl-C or SIGTERM.
pub async fn relay(database_settings: DatabaseSettings, pulsar: bus::PulsarSettings) -> anyhow::Result<()> {
    let db = database_settings.open().await?;
    tracing::info!(storage = %db.backend(), broker = %pulsar.url, "outbox relay publishing to Pulsar");
    let relay = bus::Relay::new(
        db.clone(),
        bus::PulsarTransport::new(pulsar),
        bus::RelayConfig::default(),
    )
    .with_waker(store::LogWaker::spawn(&db))
    .spawn();
    shutdown_signal().await;
    relay.shutdown().await;
    Ok(())
}

/// The tracking service: its consumer and its HTTP API, until Ctrl-C or SIGTERM.
pub async fn tracking(
    database_settings: DatabaseSettings,
    bind: SocketAddr,
    config: tracking::TrackingConfig,
    command_topics: bus::commands::CommandTopics,
    http: HttpSettings,
    auth: AuthSettings,
) -> anyhow::Result<()> {
    observability::metrics::install();
    // The same tokens as `alpes serve`'s.
    let authentication = crate::startup::authentication(&auth, None)?;
    let bind = crate::startup::listen_address(bind, &authentication);
    // Its own tables only: its database need not hold the event log or the read models.
    let db = database_settings.connect().await?;
    tracking::migrate(&db)
        .await
        .context("applying the tracking service's migrations")?;
    tracing::info!(storage = %db.backend(), broker = %config.pulsar_url, "tracking service consuming from Pulsar");
    // The same broker, token and timeouts as the events' consumers.
    let commands = bus::commands::CommandConsumerSettings::from_pulsar(config.pulsar_settings());
    let mut service = tracking::TrackingService::start(db, config);
    // The seed front door's conversions (`comando-registrar-evento-conversion`); their
    // outcomes go back to `alpes serve` on the outcomes topic.
    service.start_conversion_commands(commands, &command_topics);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, "tracking service listening");
    serve_tracking(listener, &service, &authentication, &http, shutdown_signal()).await?;
    service.shutdown().await;
    Ok(())
}

/// The tracking service's HTTP API on `listener`, with the same limits and
/// protections as `alpes serve`'s, until `shutdown`.
pub async fn serve_tracking(
    listener: tokio::net::TcpListener,
    service: &tracking::TrackingService,
    authentication: &auth::Authentication,
    http: &HttpSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    crate::server::serve(listener, service.router(authentication), http, shutdown).await
}
