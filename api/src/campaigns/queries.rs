//! Campaign queries: `GET` under `/campaigns`, served from the `campaigns` view.

use crate::access::{self, Visible};
use crate::error::{ApiError, Problem};
use crate::extract::{Addressable, AggregateId};
use crate::reads::{self, Consistency, QueryParams};
use crate::state::AppState;
use aggregates::campaign::{Campaign, CampaignStatus};
use auth::{Principal, Role};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use projections::campaigns::{CampaignView, NAME as CAMPAIGNS};
use projections::queries::{self, CampaignFilter, StreamEvent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/campaigns", get(list_campaigns))
        .route("/campaigns/{id}", get(get_campaign))
        .route("/campaigns/{id}/events", get(campaign_events))
}

/// A campaign, as the `campaigns` view knows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignResponse {
    pub id: String,
    pub name: String,
    pub brand_id: String,
    /// `draft`, `active`, `paused`, `completed` or `cancelled`.
    pub status: String,
    pub budget: MoneyResponse,
    pub schedule: Option<ScheduleResponse>,
    pub participants: Vec<ParticipantResponse>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The campaign's version (use it in `If-Match`).
    pub version: i64,
    /// The last event applied to this campaign.
    pub last_event_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MoneyResponse {
    /// Exact decimal, with the currency's decimals.
    #[schema(example = "10000.00")]
    pub amount: String,
    #[schema(example = "USD")]
    pub currency: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleResponse {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ParticipantResponse {
    pub partner_id: String,
    /// `influencer` or `affiliate`.
    pub kind: String,
    pub name: String,
    pub profile: String,
}

impl From<CampaignView> for CampaignResponse {
    fn from(view: CampaignView) -> Self {
        CampaignResponse {
            id: view.id,
            name: view.name,
            brand_id: view.brand_id,
            status: view.status.as_str().into(),
            budget: MoneyResponse {
                amount: view.budget.amount().to_string(),
                currency: view.budget.currency().code().into(),
            },
            schedule: view
                .starts_at
                .zip(view.ends_at)
                .map(|(starts_at, ends_at)| ScheduleResponse { starts_at, ends_at }),
            participants: view
                .participants
                .into_iter()
                .map(|p| ParticipantResponse {
                    partner_id: p.partner_id,
                    kind: p.kind.as_str().into(),
                    name: p.name,
                    profile: p.profile,
                })
                .collect(),
            created_at: view.created_at,
            updated_at: view.updated_at,
            version: view.version,
            last_event_id: view.last_event_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignPage {
    pub items: Vec<CampaignResponse>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListCampaignsQuery {
    /// Only this brand's campaigns (compared exactly; no NUL character).
    #[param(pattern = r"^[^\x00]*$")]
    brand_id: Option<String>,
    /// Only campaigns in this status.
    #[param(inline, value_type = Option<CampaignStatusFilter>)]
    status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
    /// Read your writes: the `position` a command answered (at most the end of the log;
    /// a position never handed out is a 400).
    #[param(minimum = 0)]
    min_position: Option<i64>,
}

/// A campaign status, as the `status` filter takes it (exact, lowercase).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documentation only: the filter is parsed by `CampaignStatus::parse`
enum CampaignStatusFilter {
    Draft,
    Active,
    Paused,
    Completed,
    Cancelled,
}

/// Lists campaigns, oldest first, with keyset pagination.
#[utoipa::path(get, path = "/campaigns", tag = "campaigns", params(ListCampaignsQuery),
    responses((status = 200, body = CampaignPage), (status = 400, body = Problem),
        (status = 503, description = "min_position not reached in time", body = Problem)))]
pub(crate) async fn list_campaigns(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ListCampaignsQuery>,
) -> Result<Json<CampaignPage>, ApiError> {
    // Each role lists its share: a brand its own brand's campaigns (none of another
    // brand's, whatever it asks for), a partner the campaigns that list it.
    let another_brand =
        principal.role == Role::Brand && query.brand_id.is_some() && query.brand_id != principal.brand_id;
    let (brand_id, participant) = match principal.role {
        Role::Brand => (principal.brand_id.clone(), None),
        Role::Partner => (query.brand_id, principal.partner_id.clone()),
        _ => (query.brand_id, None),
    };
    let filter = CampaignFilter {
        brand_id,
        participant,
        status: reads::filter(
            query.status,
            "status",
            CampaignStatus::parse,
            "draft, active, paused, completed, cancelled",
        )?,
        after: reads::cursor(query.cursor)?,
        limit: reads::limit(query.limit)?,
    };
    reads::read_your_writes(&state, &[CAMPAIGNS], query.min_position).await?;
    if another_brand {
        return Ok(Json(CampaignPage {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
    let page = queries::list_campaigns(&state.db, &filter).await?;
    Ok(Json(CampaignPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One campaign.
#[utoipa::path(get, path = "/campaigns/{id}", tag = "campaigns",
    params(("id" = Uuid, Path, description = "Campaign id"), Consistency),
    responses((status = 200, body = CampaignResponse), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 503, description = "min_position not reached in time", body = Problem)))]
pub(crate) async fn get_campaign(
    State(state): State<AppState>,
    principal: Principal,
    id: AggregateId<Campaign>,
    QueryParams(query): QueryParams<Consistency>,
) -> Result<Json<CampaignResponse>, ApiError> {
    let id = id.uuid()?.to_string();
    reads::read_your_writes(&state, &[CAMPAIGNS], query.min_position).await?;
    let view = queries::get_campaign(&state.db, &id)
        .await?
        .filter(|view| {
            let participants = view.participants.iter().map(|p| p.partner_id.as_str());
            access::sees_campaign(&principal, &view.brand_id, participants)
        })
        .ok_or_else(|| Campaign::not_found(&id))?;
    Ok(Json(view.into()))
}

/// An event of a campaign's stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamEventResponse {
    pub event_id: Uuid,
    /// Position in the campaign's stream (its version after this event).
    pub sequence: i64,
    /// Global position in the log.
    pub position: i64,
    pub event_type: String,
    pub event_version: String,
    pub recorded_at: DateTime<Utc>,
    /// The stored event, as written: an object, or the variant's name alone for an
    /// event without fields (`"CampaignActivated"`).
    #[schema(value_type = Value)]
    pub payload: serde_json::Value,
    /// What was stored with it: who caused it (`principal_sub`, `principal_role`: the
    /// audit trail) and `correlation_id`, the id of the seed command that caused it,
    /// when one did.
    #[schema(value_type = Option<Object>)]
    pub metadata: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StreamResponse {
    pub items: Vec<StreamEventResponse>,
}

impl StreamResponse {
    /// The answer of a stream endpoint: `None` for a stream with no events (an aggregate
    /// that does not exist, or that the caller may not see: the same 404).
    pub(crate) fn of(events: Vec<StreamEvent>) -> Option<Json<StreamResponse>> {
        (!events.is_empty()).then(|| {
            Json(StreamResponse {
                items: events.into_iter().map(Into::into).collect(),
            })
        })
    }
}

impl From<StreamEvent> for StreamEventResponse {
    fn from(event: StreamEvent) -> Self {
        StreamEventResponse {
            event_id: event.event_id,
            sequence: event.sequence,
            position: event.position,
            event_type: event.event_type,
            event_version: event.event_version,
            recorded_at: event.recorded_at,
            payload: event.payload,
            metadata: event.metadata,
        }
    }
}

/// A campaign's event stream, in order (read from the log itself, so always current).
#[utoipa::path(get, path = "/campaigns/{id}/events", tag = "campaigns",
    params(("id" = Uuid, Path, description = "Campaign id"), Consistency),
    responses((status = 200, body = StreamResponse), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn campaign_events(
    State(state): State<AppState>,
    principal: Principal,
    id: AggregateId<Campaign>,
    QueryParams(query): QueryParams<Consistency>,
) -> Result<Json<StreamResponse>, ApiError> {
    let id = id.uuid()?.to_string();
    // The log is the source of truth: a committed position is always visible here,
    // so min_position needs no wait; it is still checked like everywhere else.
    reads::check_position(&state, query.min_position).await?;
    // Who may see it is read from the campaign itself, as current as its stream (only
    // for the roles that see some campaigns and not others).
    let visible = match principal.role {
        Role::Admin | Role::Reader => true,
        _ => state
            .campaigns
            .load(&id)
            .await?
            .is_some_and(|campaign| campaign.visible_to(&id, &principal)),
    };
    let events = match visible {
        true => queries::campaign_events(&state.db, &id).await?,
        false => Vec::new(),
    };
    StreamResponse::of(events).ok_or_else(|| Campaign::not_found(&id))
}
