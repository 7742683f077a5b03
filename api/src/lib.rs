//! The Alpes Partners HTTP API (axum).
//!
//! Every command endpoint answers with the ids of the events it committed, the
//! aggregate's new version and the global position of its last event. Every error is
//! an RFC 9457 problem (`application/problem+json`) with a stable `code`.
//!
//! Every route but `/health`, `/ready` and `/openapi.json` needs a bearer token
//! (the `auth` crate); [`access`] says which roles may call each route and what each
//! role sees within it.
//!
//! # Layout
//! - [`access`]: the access rule of every route ([`access::RULES`]) and what each role
//!   may see (a brand its own campaigns, a partner itself).
//! - [`campaigns`], [`partners`]: one module per resource, each with its `router()`,
//!   split into `commands` (write side) and `queries` (read models).
//! - [`seed`]: the seed system's front door (`POST /crear-campaign`, ...): its routes,
//!   asynchronous commands ([`seed::CommandDesk`]), their runner and `GET /commands/{id}`.
//! - [`reads`]: what queries share: query strings, pages, read-your-writes.
//! - [`admin`]: `/projections` status, rebuild, retry and skip.
//! - [`commands`]: the answer every command shares, and [`commands::execute`], which
//!   runs a command on the aggregate a path names (the body-less transitions are only that).
//! - [`extract`]: request extractors: JSON bodies, `If-Match`, `Idempotency-Key`, path
//!   parameters by name, and aggregate ids ([`extract::AggregateId`]).
//! - [`error`]: [`ApiError`], the one place errors become responses: the RFC 9457
//!   problem of each (built by the `problem` crate, shared with the tracking service).
//! - [`money`]: the money body (exact decimal amounts).
//! - [`health`]: `/health` and `/ready`.
//! - [`metrics`]: `/metrics`, the Prometheus figures.
//! - [`openapi`]: `/openapi.json`, generated from the handlers.
//! - [`state`]: [`AppState`], what the handlers share.
//!
//! The server in front of the router (`alpes::server`) adds what concerns every
//! request before it gets here: the request id, protective headers, rate and
//! concurrency limits, timeouts.

pub mod access;
pub mod admin;
pub mod campaigns;
pub mod commands;
pub mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod partners;
pub mod reads;
pub mod seed;
pub mod state;

pub use error::ApiError;
pub use state::AppState;

use auth::Authentication;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderName;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The request id the server in front of this router (`alpes::server`) puts on every
/// request, a safe token, and echoes on every answer: read here for the logs only.
/// Set there rather than here because only the outermost layer also covers the
/// answers given before a request reaches this router (429, 503 at once, 408).
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API, ready to serve, its routes behind `authentication`.
pub fn router(state: AppState, authentication: &Authentication) -> Router {
    router_with(state, authentication, Router::new())
}

/// The API with `extra` routes served beside it (the in-process tracking service's,
/// guarded by their own rules), under the same fallbacks and request layers.
pub fn router_with(state: AppState, authentication: &Authentication, extra: Router) -> Router {
    let routes = Router::new()
        .merge(campaigns::router())
        .merge(partners::router())
        .merge(admin::router())
        .merge(seed::router())
        .merge(health::router())
        .merge(metrics::router())
        .merge(openapi::router());
    authentication
        .protect(routes, access::RULES)
        // Outside the guard, so that its 401 and 403 are counted under their route.
        .route_layer(axum::middleware::from_fn(observability::http::name_route))
        .with_state(state)
        .merge(extra)
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Bodies over the limit are refused while being read (413), not buffered.
        .layer(DefaultBodyLimit::max(extract::MAX_BODY_BYTES))
        // Outermost last: a panic anywhere below becomes an opaque 500 problem, and
        // every request is logged in a span that carries its request id.
        .layer(CatchPanicLayer::custom(|_| panic_response()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    let trace_id = observability::http::trace_of(request).trace_id();
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id, trace_id = %trace_id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(tower_http::LatencyUnit::Micros)),
        )
}

fn panic_response() -> Response {
    ApiError::Internal("a handler panicked".into()).into_response()
}
