//! `/health` (the process answers) and `/ready` (it can serve: the database answers).

use crate::error::{ApiError, Problem};
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    #[schema(example = "up")]
    status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Status)))]
async fn health() -> Json<Status> {
    Json(Status { status: "up" })
}

/// The service can serve requests: its database answers within a second.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Status), (status = 503, description = "The database is unreachable", body = Problem)))]
async fn ready(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    let ping = state.db.ping();
    match tokio::time::timeout(Duration::from_secs(1), ping).await {
        Ok(Ok(_)) => Ok(Json(Status { status: "ready" })),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::Unavailable {
                detail: "the database is unreachable".into(),
            })
        }
        Err(_) => Err(ApiError::Unavailable {
            detail: "the database did not answer in time".into(),
        }),
    }
}
