//! `GET /metrics` of `alpes tracking`: its figures in the Prometheus text format.
//!
//! The consumers count what they receive, apply, ignore as duplicates and reject as it
//! happens (`crate::consumer::handle`); the conversion commands' consumer and the
//! database pool are read from their status when Prometheus asks.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics::{counter, gauge};
use observability::metrics::*;

use super::TrackingState;

pub async fn metrics(State(state): State<TrackingState>) -> Response {
    // Before the figures below are set: until then recording goes nowhere.
    let recorder = install();
    if let Some(commands) = state.commands.get() {
        for topic in commands.status() {
            let labels = [("consumer", topic.topic.clone())];
            counter!(SEED_COMMANDS_RECEIVED, &labels).absolute(topic.counts.received);
            counter!(SEED_COMMANDS_SUCCEEDED, &labels).absolute(topic.counts.succeeded);
            counter!(SEED_COMMANDS_FAILED, &labels).absolute(topic.counts.failed);
            counter!(SEED_COMMANDS_DEAD_LETTERED, &labels).absolute(topic.counts.dead_lettered);
        }
    }
    let pool = state.database.pool_figures();
    gauge!(DB_POOL_CONNECTIONS, "pool" => "tracking", "state" => "idle").set(pool.idle);
    gauge!(DB_POOL_CONNECTIONS, "pool" => "tracking", "state" => "in_use").set(pool.in_use());
    gauge!(DB_POOL_MAX_CONNECTIONS, "pool" => "tracking").set(pool.max);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], recorder.render()).into_response()
}
