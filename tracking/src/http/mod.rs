//! The tracking service's HTTP API (axum), served by `alpes tracking`, or merged into
//! `alpes serve`'s router when the service runs there on the in-process bus.

pub mod extract;
pub mod metrics;
pub mod problem;
pub mod records;
pub mod stats;
pub mod status;

use auth::{Access, Authentication, Role, Rule};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::consumer::ConsumerHandle;
use crate::storage::TrackingStore;
use problem::TrackingError;

/// What the handlers share.
#[derive(Clone)]
pub struct TrackingState {
    pub(crate) store: Arc<dyn TrackingStore>,
    /// The subscription whose counters the status shows.
    pub(crate) subscription: String,
    pub(crate) feed: Feed,
    pub(crate) consumer: ConsumerHandle,
    /// The conversion-command consumer's status, once it is started (after the routes
    /// may have been built, hence set later).
    pub(crate) commands: Arc<std::sync::OnceLock<bus::commands::CommandConsumersHandle>>,
    /// Its database, for the pool's figures in `/metrics`.
    pub(crate) database: store::Database,
}

/// Where the service's events come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// The Pulsar topics; undecodable messages go to `dead_letter_topic`.
    Pulsar { dead_letter_topic: String },
    /// The in-process bus of the process it runs in; undecodable messages are recorded in
    /// the dead-letter table.
    InProcess,
}

/// Who may call each route: trackers record, readers read (the view holds no brand, so a
/// brand token does not read stats); admins do everything.
pub static RULES: &[Rule] = &[
    Rule::new(Method::POST, "/tracking/clicks", Access::Roles(RECORDERS)),
    Rule::new(Method::POST, "/tracking/conversions", Access::Roles(RECORDERS)),
    Rule::new(
        Method::GET,
        "/tracking/campaigns/{id}/stats",
        Access::Roles(READERS),
    ),
    Rule::new(Method::GET, "/tracking/status", Access::Roles(READERS)),
    // Served by `alpes tracking` alone; within `alpes serve`, the api's `/metrics`
    // shows the tracking service's figures with the rest (the same rule).
    Rule::new(Method::GET, "/metrics", Access::Roles(READERS)),
];
const RECORDERS: &[Role] = &[Role::Admin, Role::Tracker];
const READERS: &[Role] = &[Role::Admin, Role::Reader];

/// The tracking service on its own (`alpes tracking`): its routes, under
/// `/tracking`, behind `authentication`, and problem answers for every other path.
pub fn router(state: TrackingState, authentication: &Authentication) -> Router {
    let metrics = Router::new().route("/metrics", get(metrics::metrics));
    with_layers(
        routes(authentication)
            .merge(
                authentication
                    .protect(metrics, RULES)
                    .route_layer(axum::middleware::from_fn(observability::http::name_route)),
            )
            .fallback(|| async { TrackingError::RouteNotFound })
            .method_not_allowed_fallback(|| async { TrackingError::MethodNotAllowed })
            .with_state(state),
    )
}

/// Only the `/tracking/...` routes (behind `authentication`), without fallbacks: to
/// merge into another application's router (`alpes serve` with the in-process bus),
/// whose fallbacks answer for the other paths.
pub fn routes_only(state: TrackingState, authentication: &Authentication) -> Router {
    with_layers(routes(authentication).with_state(state))
}

fn routes(authentication: &Authentication) -> Router<TrackingState> {
    let routes = Router::new()
        .route("/tracking/clicks", post(records::record_click))
        .route("/tracking/conversions", post(records::record_conversion))
        .route("/tracking/campaigns/{id}/stats", get(stats::campaign_stats))
        .route("/tracking/status", get(status::status));
    // Outside the guard, so that its 401 and 403 are counted under their route.
    authentication
        .protect(routes, RULES)
        .route_layer(axum::middleware::from_fn(observability::http::name_route))
}

fn with_layers(router: Router) -> Router {
    router
        // Bodies over the limit are refused while being read (413), not buffered.
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        // A panic anywhere below becomes an opaque 500 problem, not a dropped connection.
        .layer(CatchPanicLayer::custom(|_| panic_response()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let trace_id = observability::http::trace_of(request).trace_id();
                    tracing::info_span!("tracking_request", method = %request.method(), path = %request.uri().path(), trace_id = %trace_id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

fn panic_response() -> Response {
    TrackingError::Internal("a handler panicked".into()).into_response()
}
