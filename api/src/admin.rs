//! Operating the projections: `GET /projections` (status of every projector) and
//! `POST /admin/projections/{name}/rebuild|retry|skip`.

use crate::error::{ApiError, Problem};
use crate::extract::PathParams;
use crate::state::AppState;
use auth::Principal;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use projections::projector::Intervention;
use projections::rebuild::{self, RebuildError};
use projections::ProjectorHandle;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projections", get(projection_status))
        .route("/relay", get(relay_status))
        .route("/admin/projections/{name}/rebuild", post(rebuild_projection))
        .route("/admin/projections/{name}/retry", post(retry_projection))
        .route("/admin/projections/{name}/skip", post(skip_event))
}

/// A projector's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionStatusResponse {
    /// The projector, named after its view: `campaigns`, `partners`.
    pub name: String,
    /// `running`, `standby` (another process runs it), `rebuilding`, `failed`, or
    /// `stopped` (no process runs it).
    pub state: String,
    /// Global position of the last event applied.
    pub checkpoint: i64,
    /// Highest position in the log.
    pub head: i64,
    /// Committed events not applied yet.
    pub lag: i64,
    /// How long the oldest of them has waited, in seconds (0 when caught up).
    pub lag_seconds: f64,
    pub events_applied: i64,
    pub last_error: Option<String>,
    /// When `failed`: the event it stopped at.
    pub failed_event_id: Option<Uuid>,
    pub failed_position: Option<i64>,
    /// When `rebuilding`: how far the rebuild got.
    pub rebuild_position: Option<i64>,
}

/// The status of every projector.
#[utoipa::path(get, path = "/projections", tag = "operations",
    responses((status = 200, body = [ProjectionStatusResponse])))]
async fn projection_status(
    State(state): State<AppState>,
) -> Result<Json<Vec<ProjectionStatusResponse>>, ApiError> {
    let mut statuses = Vec::new();
    for handle in state.projections.all() {
        let status = handle.status().await?;
        statuses.push(ProjectionStatusResponse {
            name: status.name.into(),
            state: status.state.as_str().into(),
            checkpoint: status.checkpoint,
            head: status.head,
            lag: status.lag,
            lag_seconds: status.lag_seconds(),
            events_applied: status.events_applied,
            last_error: status.last_error,
            failed_event_id: status.failed_event_id,
            failed_position: status.failed_position,
            rebuild_position: status.rebuild_position,
        });
    }
    Ok(Json(statuses))
}

/// The outbox relay's status: state, checkpoint, head, lag, last publish, last error.
#[utoipa::path(get, path = "/relay", tag = "operations",
    responses((status = 200, body = bus::RelayStatus),
        (status = 404, description = "No relay runs in this process (no PULSAR_URL)", body = Problem)))]
async fn relay_status(State(state): State<AppState>) -> Result<Json<bus::RelayStatus>, ApiError> {
    match &state.relay {
        Some(relay) => Ok(Json(relay.status().await)),
        None => Err(ApiError::NotFound {
            code: "relay.not_running",
            detail:
                "no outbox relay runs in this process: start it with PULSAR_URL set, or run `alpes relay`"
                    .into(),
        }),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminAccepted {
    pub projection: String,
    /// What was done or started: `rebuilding`, `retrying`, `skipped`.
    pub action: String,
}

/// The path of a projection: `/admin/projections/{name}/...`.
#[derive(Deserialize)]
struct ProjectionPath {
    name: String,
}

fn projector<'a>(state: &'a AppState, name: &str) -> Result<&'a ProjectorHandle, ApiError> {
    state.projections.get(name).ok_or_else(|| ApiError::NotFound {
        code: "projection.not_found",
        detail: format!("no projection named '{name}'"),
    })
}

/// Rebuilds a view from the log into shadow tables, then swaps it in; the live view
/// keeps serving meanwhile. Answers at once; follow it in `GET /projections`.
#[utoipa::path(post, path = "/admin/projections/{name}/rebuild", tag = "operations",
    params(("name" = String, Path, description = "Projection name")),
    responses((status = 202, body = AdminAccepted), (status = 404, body = Problem),
        (status = 409, description = "A rebuild is already running", body = Problem)))]
async fn rebuild_projection(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(ProjectionPath { name }): PathParams<ProjectionPath>,
) -> Result<(StatusCode, Json<AdminAccepted>), ApiError> {
    let handle = projector(&state, &name)?.clone();
    let name = handle.name();
    // Operations leave no event behind: the log says who did them.
    tracing::info!(projection = name, sub = %principal.sub, "rebuild requested");
    // Started here and reported back through a channel, so that "already running"
    // is a 409 on this request rather than a log line.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let started = std::sync::Arc::new(std::sync::Mutex::new(Some(started_tx)));
    let report_start = move |outcome: Result<(), ()>| {
        if let Some(sender) = started.lock().ok().and_then(|mut sender| sender.take()) {
            let _ = sender.send(outcome);
        }
    };
    tokio::spawn(async move {
        let result = rebuild::rebuild(&handle, |_| report_start(Ok(()))).await;
        match result {
            Err(RebuildError::AlreadyRunning(_)) => report_start(Err(())),
            Err(error) => tracing::error!(projection = name, %error, "rebuild failed"),
            Ok(report) => tracing::info!(projection = name, events = report.events, "rebuild done"),
        }
    });
    match started_rx.await {
        // Dropped without a word: the log was empty and the rebuild finished at once.
        Ok(Ok(())) | Err(_) => Ok((
            StatusCode::ACCEPTED,
            Json(AdminAccepted {
                projection: name.into(),
                action: "rebuilding".into(),
            }),
        )),
        Ok(Err(())) => Err(ApiError::StateConflict {
            code: "projection.rebuild_running",
            detail: format!("a rebuild of '{name}' is already running"),
        }),
    }
}

/// Retries the event a failed projector stopped at.
#[utoipa::path(post, path = "/admin/projections/{name}/retry", tag = "operations",
    params(("name" = String, Path, description = "Projection name")),
    responses((status = 200, body = AdminAccepted), (status = 404, body = Problem),
        (status = 409, description = "The projector has not failed", body = Problem)))]
async fn retry_projection(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(ProjectionPath { name }): PathParams<ProjectionPath>,
) -> Result<Json<AdminAccepted>, ApiError> {
    let handle = projector(&state, &name)?;
    tracing::info!(projection = handle.name(), sub = %principal.sub, "retry requested");
    intervened(handle.name(), handle.retry().await?, "retrying")
}

/// Skips the event a failed projector stopped at (recorded, and logged).
#[utoipa::path(post, path = "/admin/projections/{name}/skip", tag = "operations",
    params(("name" = String, Path, description = "Projection name")),
    responses((status = 200, body = AdminAccepted), (status = 404, body = Problem),
        (status = 409, description = "The projector has not failed", body = Problem)))]
async fn skip_event(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(ProjectionPath { name }): PathParams<ProjectionPath>,
) -> Result<Json<AdminAccepted>, ApiError> {
    let handle = projector(&state, &name)?;
    tracing::info!(projection = handle.name(), sub = %principal.sub, "skip requested");
    intervened(handle.name(), handle.skip().await?, "skipped")
}

fn intervened(name: &str, outcome: Intervention, action: &str) -> Result<Json<AdminAccepted>, ApiError> {
    match outcome {
        Intervention::Done => Ok(Json(AdminAccepted {
            projection: name.into(),
            action: action.into(),
        })),
        Intervention::NotFailed => Err(ApiError::StateConflict {
            code: "projection.not_failed",
            detail: format!("projection '{name}' has not failed; there is nothing to retry or skip"),
        }),
    }
}
