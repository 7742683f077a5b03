//! Campaign commands: `POST`/`PUT`/`DELETE` under `/campaigns`.

use crate::access;
use crate::commands::{accepted, execute, CommandAccepted, CommandHeaders};
use crate::error::{ApiError, Problem};
use crate::extract::{AggregateId, CommandRequest, Json, NoBody, PathParams};
use crate::money::MoneyBody;
use crate::state::AppState;
use aggregates::campaign::{Campaign, CampaignCommand, ParticipantInput};
use axum::extract::State;
use axum::response::Response;
use axum::routing::{delete, post, put};
use axum::Router;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use store::CommandOptions;
use utoipa::ToSchema;
use uuid::Uuid;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/campaigns", post(create_campaign))
        .route("/campaigns/{id}/participants", post(add_participant))
        .route(
            "/campaigns/{id}/participants/{partner_id}",
            delete(remove_participant),
        )
        .route("/campaigns/{id}/budget", put(change_budget))
        .route("/campaigns/{id}/schedule", put(reschedule))
        .route("/campaigns/{id}/activate", post(activate))
        .route("/campaigns/{id}/pause", post(pause))
        .route("/campaigns/{id}/resume", post(resume))
        .route("/campaigns/{id}/complete", post(complete))
        .route("/campaigns/{id}/cancel", post(cancel))
}

/// A new campaign, optionally with its first participants.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaignRequest {
    /// 1 to 100 characters (trimmed).
    #[schema(example = "Summer launch")]
    pub name: String,
    /// The brand running the campaign, 1 to 64 characters.
    #[schema(example = "brand-42")]
    pub brand_id: String,
    pub budget: MoneyBody,
    /// Optional schedule: both or neither, `starts_at` before `ends_at` (RFC 3339).
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub participants: Vec<ParticipantBody>,
}

/// A partner taking part in a campaign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParticipantBody {
    /// 1 to 64 characters; unique within the campaign.
    #[schema(example = "p-98765")]
    pub partner_id: String,
    /// `influencer` or `affiliate`, any case.
    #[schema(example = "influencer")]
    pub kind: String,
    /// 1 to 100 characters.
    #[schema(example = "Alice Doe")]
    pub name: String,
    /// Up to 1000 characters.
    #[serde(default)]
    pub profile: String,
}

impl From<ParticipantBody> for ParticipantInput {
    fn from(body: ParticipantBody) -> Self {
        ParticipantInput {
            partner_id: body.partner_id,
            kind: body.kind,
            name: body.name,
            profile: body.profile,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why the campaign is cancelled, 1 to 500 characters.
    pub reason: String,
}

/// The path of a participant: `/campaigns/{id}/participants/{partner_id}`.
#[derive(Deserialize)]
struct ParticipantPath {
    partner_id: String,
}

/// Creates a campaign (status `draft`).
#[utoipa::path(post, path = "/campaigns", tag = "campaigns", request_body = CreateCampaignRequest,
    params(CommandHeaders),
    responses(
        (status = 201, description = "Created; `Location` names the campaign", body = CommandAccepted),
        (status = 400, body = Problem), (status = 413, body = Problem), (status = 415, body = Problem),
        (status = 422, description = "A rule is violated", body = Problem)))]
async fn create_campaign(
    State(state): State<AppState>,
    request: CommandRequest<Json<CreateCampaignRequest>>,
) -> Result<Response, ApiError> {
    let Json(body) = request.body;
    access::may_create_for_brand(&request.principal, &body.brand_id)?;
    let command = CampaignCommand::CreateCampaign {
        name: body.name,
        brand_id: body.brand_id,
        budget: body.budget.into(),
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        participants: body.participants.into_iter().map(Into::into).collect(),
    };
    let id = Uuid::now_v7().to_string();
    let options = CommandOptions {
        new_aggregate: true,
        ..request.options
    };
    let outcome = crate::commands::run(&state.campaigns, &id, command, options, |_| true).await?;
    Ok(accepted(outcome, Some("/campaigns")))
}

/// Adds a participant.
#[utoipa::path(post, path = "/campaigns/{id}/participants", tag = "campaigns", request_body = ParticipantBody,
    params(("id" = Uuid, Path, description = "Campaign id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn add_participant(
    State(state): State<AppState>,
    id: AggregateId<Campaign>,
    request: CommandRequest<Json<ParticipantBody>>,
) -> Result<Response, ApiError> {
    let Json(body) = request.body;
    execute(
        &state.campaigns,
        id,
        CampaignCommand::AddParticipant {
            participant: body.into(),
        },
        request.options,
        &request.principal,
    )
    .await
}

/// Removes a participant.
#[utoipa::path(delete, path = "/campaigns/{id}/participants/{partner_id}", tag = "campaigns",
    params(("id" = Uuid, Path, description = "Campaign id"), ("partner_id" = String, Path), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
async fn remove_participant(
    State(state): State<AppState>,
    id: AggregateId<Campaign>,
    PathParams(ParticipantPath { partner_id }): PathParams<ParticipantPath>,
    request: CommandRequest<NoBody>,
) -> Result<Response, ApiError> {
    let command = CampaignCommand::RemoveParticipant { partner_id };
    execute(&state.campaigns, id, command, request.options, &request.principal).await
}

/// Changes the budget.
#[utoipa::path(put, path = "/campaigns/{id}/budget", tag = "campaigns", request_body = MoneyBody,
    params(("id" = Uuid, Path, description = "Campaign id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn change_budget(
    State(state): State<AppState>,
    id: AggregateId<Campaign>,
    request: CommandRequest<Json<MoneyBody>>,
) -> Result<Response, ApiError> {
    let Json(body) = request.body;
    execute(
        &state.campaigns,
        id,
        CampaignCommand::ChangeBudget { budget: body.into() },
        request.options,
        &request.principal,
    )
    .await
}

/// Sets the schedule.
#[utoipa::path(put, path = "/campaigns/{id}/schedule", tag = "campaigns", request_body = RescheduleRequest,
    params(("id" = Uuid, Path, description = "Campaign id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn reschedule(
    State(state): State<AppState>,
    id: AggregateId<Campaign>,
    request: CommandRequest<Json<RescheduleRequest>>,
) -> Result<Response, ApiError> {
    let Json(body) = request.body;
    let command = CampaignCommand::Reschedule {
        starts_at: body.starts_at,
        ends_at: body.ends_at,
    };
    execute(&state.campaigns, id, command, request.options, &request.principal).await
}

/// Cancels the campaign (from draft, active or paused).
#[utoipa::path(post, path = "/campaigns/{id}/cancel", tag = "campaigns", request_body = CancelRequest,
    params(("id" = Uuid, Path, description = "Campaign id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn cancel(
    State(state): State<AppState>,
    id: AggregateId<Campaign>,
    request: CommandRequest<Json<CancelRequest>>,
) -> Result<Response, ApiError> {
    let Json(body) = request.body;
    execute(
        &state.campaigns,
        id,
        CampaignCommand::Cancel { reason: body.reason },
        request.options,
        &request.principal,
    )
    .await
}

/// Activates a draft campaign (needs a participant).
#[utoipa::path(post, path = "/campaigns/{id}/activate", tag = "campaigns",
    params(("id" = Uuid, Path, description = "Campaign id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, description = "Not allowed from the current status", body = Problem)))]
async fn activate(
    State(state): State<AppState>,
    id: AggregateId<Campaign>,
    request: CommandRequest<NoBody>,
) -> Result<Response, ApiError> {
    execute(
        &state.campaigns,
        id,
        CampaignCommand::Activate,
        request.options,
        &request.principal,
    )
    .await
}

/// Pauses an active campaign.
#[utoipa::path(post, path = "/campaigns/{id}/pause", tag = "campaigns",
    params(("id" = Uuid, Path, description = "Campaign id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, description = "Not allowed from the current status", body = Problem)))]
async fn pause(
    State(state): State<AppState>,
    id: AggregateId<Campaign>,
    request: CommandRequest<NoBody>,
) -> Result<Response, ApiError> {
    execute(
        &state.campaigns,
        id,
        CampaignCommand::Pause,
        request.options,
        &request.principal,
    )
    .await
}

/// Resumes a paused campaign.
#[utoipa::path(post, path = "/campaigns/{id}/resume", tag = "campaigns",
    params(("id" = Uuid, Path, description = "Campaign id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, description = "Not allowed from the current status", body = Problem)))]
async fn resume(
    State(state): State<AppState>,
    id: AggregateId<Campaign>,
    request: CommandRequest<NoBody>,
) -> Result<Response, ApiError> {
    execute(
        &state.campaigns,
        id,
        CampaignCommand::Resume,
        request.options,
        &request.principal,
    )
    .await
}

/// Completes an active or paused campaign.
#[utoipa::path(post, path = "/campaigns/{id}/complete", tag = "campaigns",
    params(("id" = Uuid, Path, description = "Campaign id"), CommandHeaders),
    responses((status = 200, body = CommandAccepted), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, description = "Not allowed from the current status", body = Problem)))]
async fn complete(
    State(state): State<AppState>,
    id: AggregateId<Campaign>,
    request: CommandRequest<NoBody>,
) -> Result<Response, ApiError> {
    execute(
        &state.campaigns,
        id,
        CampaignCommand::Complete,
        request.options,
        &request.principal,
    )
    .await
}
