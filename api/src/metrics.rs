//! `GET /metrics`: every figure of this process in the Prometheus text format.
//!
//! Counters of things that happen (requests, commands, events appended, messages
//! received) are recorded where they happen, through the `metrics` facade. Figures
//! that a status already holds (a projector's checkpoint and lag, the relay's, the
//! seed consumers' counts, the pool's) are read from that status when Prometheus
//! asks, so that `/metrics`, `GET /projections`, `GET /relay` and
//! `GET /command-consumers` cannot disagree.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bus::{RelayState, RelayStatus};
use metrics::{counter, gauge};
use observability::metrics::*;
use projections::projector::{ProjectorState, ProjectorStatus};
use store::PoolFigures;

pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// The figures of this process (and of the tracking service, when it runs here).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format, version 0.0.4",
        content_type = "text/plain", body = String)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    // Before the figures are set: until then recording goes nowhere.
    let recorder = install();
    collect(&state).await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], recorder.render()).into_response()
}

/// Reads the statuses into the figures. A status that cannot be read now (the
/// database is down) keeps its last figures: a scrape still answers.
async fn collect(state: &AppState) {
    for handle in state.projections.all() {
        match handle.status().await {
            Ok(status) => projector(&status),
            Err(error) => {
                tracing::warn!(projector = handle.name(), %error, "projector status unavailable for /metrics")
            }
        }
    }
    if let Some(relay) = &state.relay {
        self::relay(&relay.status().await);
    }
    match crate::seed::outcomes::consumer_figures(state).await {
        Ok(figures) => seed_commands(&figures),
        Err(error) => tracing::warn!(?error, "seed command figures unavailable for /metrics"),
    }
    pool("events", state.db.pool_figures());
}

fn projector(status: &ProjectorStatus) {
    let labels = [("projector", status.name)];
    gauge!(PROJECTOR_CHECKPOINT, &labels).set(status.checkpoint as f64);
    gauge!(PROJECTOR_HEAD, &labels).set(status.head as f64);
    gauge!(PROJECTOR_LAG_EVENTS, &labels).set(status.lag as f64);
    gauge!(PROJECTOR_LAG_SECONDS, &labels).set(status.lag_seconds());
    counter!(PROJECTOR_EVENTS_APPLIED, &labels).absolute(status.events_applied.max(0) as u64);
    for state in ProjectorState::ALL {
        let current = f64::from(u8::from(state == status.state));
        gauge!(PROJECTOR_STATE, "projector" => status.name, "state" => state.as_str()).set(current);
    }
}

fn relay(status: &RelayStatus) {
    let labels = [("relay", status.relay.clone())];
    if let Some(checkpoint) = status.progress.checkpoint {
        gauge!(RELAY_CHECKPOINT, &labels).set(checkpoint.position as f64);
    }
    if let Some(head) = status.head {
        gauge!(RELAY_HEAD, &labels).set(head as f64);
    }
    if let Some(lag) = status.lag {
        gauge!(RELAY_LAG_EVENTS, &labels).set(lag as f64);
    }
    if let Some(lag_seconds) = status.lag_seconds {
        gauge!(RELAY_LAG_SECONDS, &labels).set(lag_seconds);
    }
    gauge!(RELAY_IN_FLIGHT, &labels).set(status.progress.in_flight as f64);
    counter!(RELAY_PUBLISHED, &labels).absolute(status.progress.published);
    for state in RelayState::ALL {
        let current = f64::from(u8::from(state == status.progress.state));
        gauge!(RELAY_STATE, "relay" => status.relay.clone(), "state" => state.as_str()).set(current);
    }
}

fn seed_commands(figures: &crate::seed::CommandConsumersResponse) {
    gauge!(SEED_COMMANDS_PENDING).set(figures.pending as f64);
    gauge!(SEED_COMMANDS_LAG_SECONDS).set(figures.lag_seconds);
    for consumer in &figures.consumers {
        let labels = [("consumer", consumer.name.clone())];
        counter!(SEED_COMMANDS_RECEIVED, &labels).absolute(consumer.received);
        counter!(SEED_COMMANDS_SUCCEEDED, &labels).absolute(consumer.succeeded);
        counter!(SEED_COMMANDS_FAILED, &labels).absolute(consumer.failed);
        counter!(SEED_COMMANDS_DEAD_LETTERED, &labels).absolute(consumer.dead_lettered);
    }
}

/// The pool's figures under the name `pool`.
pub fn pool(name: &'static str, figures: PoolFigures) {
    gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "idle").set(figures.idle);
    gauge!(DB_POOL_CONNECTIONS, "pool" => name, "state" => "in_use").set(figures.in_use());
    gauge!(DB_POOL_MAX_CONNECTIONS, "pool" => name).set(figures.max);
}
