//! Partner commands: `POST`/`PUT` under `/partners`.

use crate::commands::{accepted, execute, CommandAccepted, CommandHeaders};
use crate::error::{ApiError, Problem};
use crate::extract::{AggregateId, CommandRequest, Json, NoBody};
use crate::state::AppState;
use aggregates::partner::{Partner, PartnerCommand};
use axum::extract::State;
use axum::response::Response;
use axum::routing::{post, put};
use axum::Router;
use serde::Deserialize;
use store::CommandOptions;
use utoipa::ToSchema;
use uuid::Uuid;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/partners", post(register_partner))
        .route("/partners/{id}/profile", put(update_profile))
        .route("/partners/{id}/suspend", post(suspend))
        .route("/partners/{id}/reinstate", post(reinstate))
        .route("/partners/{id}/deactivate", post(deactivate))
}

/// A partner's profile: the body of registration and of profile updates (a full
/// replacement).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerProfileBody {
    /// 1 to 100 characters (trimmed).
    #[schema(example = "Alice Doe")]
    pub name: String,
    /// `influencer` or `affiliate`, any case.
    #[schema(example = "influencer")]
    pub kind: String,
    /// Up to 1000 characters.
    #[serde(default)]
    #[schema(example = "Fashion influencer with 200k followers")]
    pub profile: String,
    /// Optional contact email.
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// Why the partner is suspended, 1 to 500 characters.
    pub reason: String,
}

/// Registers a partner (status `active`).
#[utoipa::path(post, path = "/partners", tag = "partners", request_body = PartnerProfileBody,
    params(CommandHeaders),
    responses(
        (status = 201, description = "Created; `Location` names the partner", body = CommandAccepted),
        (status = 400, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, body = Problem)))]
async fn register_partner(
    State(state): State<AppState>,
    request: CommandRequest<Json<PartnerProfileBody>>,
) -> Result<Response, ApiError> {
    let Json(body) = request.body;
    let command = PartnerCommand::RegisterPartner {
        name: body.name,
        kind: body.kind,
        profile: body.profile,
        email: body.email,
    };
    let id = Uuid::now_v7().to_string();
    let options = CommandOptions {
        new_aggregate: true,
        ..request.options
    };
    let outcome = crate::commands::run(&state.partners, &id, command, options, |_| true).await?;
    Ok(accepted(outcome, Some("/partners")))
}

/// Replaces the partner's profile.
#[utoipa::path(put, path = "/partners/{id}/profile", tag = "partners", request_body = PartnerProfileBody,
    params(("id" = Uuid, Path, description = "Partner id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn update_profile(
    State(state): State<AppState>,
    id: AggregateId<Partner>,
    request: CommandRequest<Json<PartnerProfileBody>>,
) -> Result<Response, ApiError> {
    let Json(body) = request.body;
    let command = PartnerCommand::UpdatePartnerProfile {
        name: body.name,
        kind: body.kind,
        profile: body.profile,
        email: body.email,
    };
    execute(&state.partners, id, command, request.options, &request.principal).await
}

/// Suspends an active partner.
#[utoipa::path(post, path = "/partners/{id}/suspend", tag = "partners", request_body = SuspendRequest,
    params(("id" = Uuid, Path, description = "Partner id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn suspend(
    State(state): State<AppState>,
    id: AggregateId<Partner>,
    request: CommandRequest<Json<SuspendRequest>>,
) -> Result<Response, ApiError> {
    let Json(body) = request.body;
    execute(
        &state.partners,
        id,
        PartnerCommand::SuspendPartner { reason: body.reason },
        request.options,
        &request.principal,
    )
    .await
}

/// Reinstates a suspended partner.
#[utoipa::path(post, path = "/partners/{id}/reinstate", tag = "partners",
    params(("id" = Uuid, Path, description = "Partner id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, description = "Not allowed from the current status", body = Problem)))]
async fn reinstate(
    State(state): State<AppState>,
    id: AggregateId<Partner>,
    request: CommandRequest<NoBody>,
) -> Result<Response, ApiError> {
    execute(
        &state.partners,
        id,
        PartnerCommand::ReinstatePartner,
        request.options,
        &request.principal,
    )
    .await
}

/// Deactivates the partner for good.
#[utoipa::path(post, path = "/partners/{id}/deactivate", tag = "partners",
    params(("id" = Uuid, Path, description = "Partner id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, description = "Not allowed from the current status", body = Problem)))]
async fn deactivate(
    State(state): State<AppState>,
    id: AggregateId<Partner>,
    request: CommandRequest<NoBody>,
) -> Result<Response, ApiError> {
    execute(
        &state.partners,
        id,
        PartnerCommand::DeactivatePartner,
        request.options,
        &request.principal,
    )
    .await
}
