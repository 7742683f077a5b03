//! The tracking service's HTTP API (axum), served by `alpes tracking`.

pub mod extract;
pub mod problem;
pub mod records;
pub mod stats;
pub mod status;

use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sqlx::PgPool;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::TrackingConfig;
use crate::consumer::ConsumerHandle;
use problem::TrackingError;

/// What the handlers share.
#[derive(Clone)]
pub struct TrackingState {
    pub pool: PgPool,
    pub config: Arc<TrackingConfig>,
    pub consumer: ConsumerHandle,
}

/// The tracking routes, under `/tracking`.
pub fn router(state: TrackingState) -> Router {
    Router::new()
        .route("/tracking/clicks", post(records::record_click))
        .route("/tracking/conversions", post(records::record_conversion))
        .route("/tracking/campaigns/{id}/stats", get(stats::campaign_stats))
        .route("/tracking/status", get(status::status))
        .fallback(|| async { TrackingError::RouteNotFound })
        .method_not_allowed_fallback(|| async { TrackingError::MethodNotAllowed })
        .with_state(state)
        // Bodies over the limit are refused while being read (413), not buffered.
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        // A panic anywhere below becomes an opaque 500 problem, not a dropped connection.
        .layer(CatchPanicLayer::custom(|_| panic_response()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    tracing::info_span!("tracking_request", method = %request.method(), path = %request.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

fn panic_response() -> Response {
    TrackingError::Internal("a handler panicked".into()).into_response()
}
