//! `alpes relay` and `alpes tracking`: the services that run on their own, next to
//! (or instead of) `alpes serve`.

use crate::settings::DatabaseSettings;
use crate::startup::{ensure_database, shutdown_signal};
use anyhow::Context;
use std::net::SocketAddr;

/// Connects to the database the service shares with `alpes serve`, migrated.
async fn database(database: &DatabaseSettings) -> anyhow::Result<sqlx::PgPool> {
    ensure_database(database).await?;
    let pool = store::connect_lazy(database.connect_options()?, database.max_connections);
    store::migrate(&pool).await.context("applying migrations")?;
    Ok(pool)
}

/// The outbox relay alone, until Ctrl-C or SIGTERM.
pub async fn relay(database_settings: DatabaseSettings, pulsar: bus::PulsarSettings) -> anyhow::Result<()> {
    let pool = database(&database_settings).await?;
    tracing::info!(broker = %pulsar.url, "outbox relay publishing to Pulsar");
    let relay = bus::Relay::new(
        pool.clone(),
        bus::PulsarTransport::new(pulsar),
        bus::RelayConfig::default(),
    )
    .with_waker(store::reader::LogWaker::spawn(pool))
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
) -> anyhow::Result<()> {
    let pool = database(&database_settings).await?;
    let service = tracking::TrackingService::start(pool, config);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, "tracking service listening");
    axum::serve(listener, service.router())
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    service.shutdown().await;
    Ok(())
}
