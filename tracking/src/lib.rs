//! The tracking service: records clicks and conversions for the partners of active
//! campaigns, knowing which campaigns are active and who takes part only from the
//! integration events it consumes from Pulsar (never from the write side's tables).
//!
//! ```text
//!  campaign-events ─┐  Key_Shared "tracking"    tracking.applied_events (idempotency)
//!  partner-events  ─┴─> consumer (per topic) ──> tracking.campaigns / participants / partners
//!                        │ undecodable: nack → dead-letter topic after N redeliveries
//!  POST /tracking/clicks, /conversions ──check the view──> tracking.clicks / conversions
//!  GET  /tracking/campaigns/{id}/stats, /tracking/status
//! ```
//!
//! ```no_run
//! # async fn run(pool: sqlx::PgPool) -> std::io::Result<()> {
//! use tracking::{TrackingConfig, TrackingService};
//! let service = TrackingService::start(pool, TrackingConfig::new("pulsar://127.0.0.1:6650"));
//! let listener = tokio::net::TcpListener::bind(tracking::DEFAULT_BIND).await?;
//! axum::serve(listener, service.router()).await?;
//! service.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//! - [`config`]: [`TrackingConfig`] (Pulsar URL, topics, subscription, dead-letter topic).
//! - [`consumer`]: the Pulsar consumers that feed the view, their status.
//! - [`acks`]: when to acknowledge, batches included.
//! - [`view`]: applying an integration event to the view, once.
//! - [`http`]: the routes: [`http::records`] (clicks, conversions), [`http::stats`],
//!   [`http::status`], [`http::problem`] (problem+json errors), [`http::extract`] (bodies).
//! - SQL in `tracking/sql/`; tables in the `tracking` schema (migration
//!   `20261122100001_create_tracking_schema.sql`).

pub mod acks;
pub mod config;
pub mod consumer;
pub mod http;
pub mod view;

pub use config::{TrackingConfig, DEFAULT_BIND, DEFAULT_DEAD_LETTER_TOPIC, DEFAULT_SUBSCRIPTION};
pub use consumer::{ConsumerHandle, ConsumerTask};
pub use http::{router, TrackingState};

use sqlx::PgPool;
use std::sync::Arc;

/// The service: its consumers running in the background, and its routes.
pub struct TrackingService {
    state: TrackingState,
    consumers: ConsumerTask,
}

impl TrackingService {
    /// Starts consuming (the `tracking` schema must exist: run the migrations first).
    pub fn start(pool: PgPool, config: TrackingConfig) -> TrackingService {
        let config = Arc::new(config);
        let consumers = consumer::spawn(pool.clone(), config.clone());
        let state = TrackingState {
            pool,
            config,
            consumer: consumers.handle(),
        };
        TrackingService { state, consumers }
    }

    /// The HTTP routes (`/tracking/...`), to serve alone or merge into another router.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    pub fn consumers(&self) -> ConsumerHandle {
        self.state.consumer.clone()
    }

    /// Stops the consumers after the message each has in hand.
    pub async fn shutdown(self) {
        self.consumers.shutdown().await;
    }

    /// Stops the consumers at once, as a crash would (for tests).
    pub async fn abort(self) {
        self.consumers.abort().await;
    }
}
