//! Partner queries: `GET` under `/partners`, served from the `partners` view (and
//! the `campaigns` view for the campaigns a partner takes part in).

use crate::access;
use crate::campaigns::queries::StreamResponse;
use crate::error::{ApiError, Problem};
use crate::extract::{Addressable, AggregateId};
use crate::reads::{self, Consistency, QueryParams};
use crate::state::AppState;
use aggregates::partner::{Partner, PartnerStatus};
use aggregates::partner_kind::PartnerKind;
use auth::{Principal, Role};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use projections::partners::{PartnerView, NAME as PARTNERS};
use projections::queries::{self, CampaignFilter, PartnerCampaign, PartnerFilter};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/partners", get(list_partners))
        .route("/partners/{id}", get(get_partner))
        .route("/partners/{id}/events", get(partner_events))
}

/// A partner, as the `partners` view knows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerResponse {
    pub id: String,
    pub name: String,
    /// `influencer` or `affiliate`.
    pub kind: String,
    pub profile: String,
    pub email: Option<String>,
    /// `active`, `suspended` or `deactivated`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub last_event_id: Uuid,
    /// The campaigns that list this partner as participant (only on `GET /partners/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub campaigns: Option<Vec<PartnerCampaignResponse>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerCampaignResponse {
    pub id: String,
    pub name: String,
    pub status: String,
}

impl PartnerResponse {
    fn new(view: PartnerView, campaigns: Option<Vec<PartnerCampaign>>) -> Self {
        PartnerResponse {
            id: view.id,
            name: view.name,
            kind: view.kind.as_str().into(),
            profile: view.profile,
            email: view.email,
            status: view.status.as_str().into(),
            created_at: view.created_at,
            updated_at: view.updated_at,
            version: view.version,
            last_event_id: view.last_event_id,
            campaigns: campaigns.map(|campaigns| {
                campaigns
                    .into_iter()
                    .map(|c| PartnerCampaignResponse {
                        id: c.id,
                        name: c.name,
                        status: c.status.as_str().into(),
                    })
                    .collect()
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerPage {
    pub items: Vec<PartnerResponse>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListPartnersQuery {
    /// `influencer` or `affiliate`, any case, surrounding spaces ignored (as the
    /// commands take it).
    kind: Option<String>,
    /// `active`, `suspended` or `deactivated`.
    #[param(inline, value_type = Option<PartnerStatusFilter>)]
    status: Option<String>,
    /// Case-insensitive search in the name: at most 200 characters, no NUL; empty
    /// means no search.
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    q: Option<String>,
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

/// A partner status, as the `status` filter takes it (exact, lowercase).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documentation only: the filter is parsed by `PartnerStatus::parse`
enum PartnerStatusFilter {
    Active,
    Suspended,
    Deactivated,
}

/// Lists partners, oldest first, with keyset pagination.
#[utoipa::path(get, path = "/partners", tag = "partners", params(ListPartnersQuery),
    responses((status = 200, body = PartnerPage), (status = 400, body = Problem),
        (status = 503, description = "min_position not reached in time", body = Problem)))]
async fn list_partners(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ListPartnersQuery>,
) -> Result<Json<PartnerPage>, ApiError> {
    let filter = PartnerFilter {
        // A partner lists itself only.
        id: match principal.role {
            Role::Partner => principal.partner_id.clone(),
            _ => None,
        },
        // `kind` accepts any case, as the commands do.
        kind: reads::filter(query.kind, "kind", PartnerKind::parse, "influencer, affiliate")?,
        status: reads::filter(
            query.status,
            "status",
            PartnerStatus::parse,
            "active, suspended, deactivated",
        )?,
        name_contains: reads::search(query.q, "q")?,
        after: reads::cursor(query.cursor)?,
        limit: reads::limit(query.limit)?,
    };
    reads::read_your_writes(&state, &[PARTNERS], query.min_position).await?;
    let page = queries::list_partners(&state.db, &filter).await?;
    Ok(Json(PartnerPage {
        items: page
            .items
            .into_iter()
            .map(|view| PartnerResponse::new(view, None))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One partner, with the campaigns it takes part in.
#[utoipa::path(get, path = "/partners/{id}", tag = "partners",
    params(("id" = Uuid, Path, description = "Partner id"), Consistency),
    responses((status = 200, body = PartnerResponse), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 503, description = "min_position not reached in time", body = Problem)))]
async fn get_partner(
    State(state): State<AppState>,
    principal: Principal,
    id: AggregateId<Partner>,
    QueryParams(query): QueryParams<Consistency>,
) -> Result<Json<PartnerResponse>, ApiError> {
    let id = id.uuid()?.to_string();
    if !access::sees_partner(&principal, &id) {
        return Err(Partner::not_found(&id));
    }
    reads::read_your_writes(
        &state,
        &[PARTNERS, projections::campaigns::NAME],
        query.min_position,
    )
    .await?;
    let (view, mut campaigns) = queries::get_partner(&state.db, &id)
        .await?
        .ok_or_else(|| Partner::not_found(&id))?;
    if principal.role == Role::Brand {
        // A brand sees the campaigns of its own brand among the partner's (all of them:
        // every page).
        let mut own = HashSet::new();
        let mut filter = CampaignFilter {
            brand_id: principal.brand_id.clone(),
            participant: Some(id.clone()),
            limit: reads::MAX_LIMIT,
            ..CampaignFilter::default()
        };
        loop {
            let page = queries::list_campaigns(&state.db, &filter).await?;
            own.extend(page.items.into_iter().map(|campaign| campaign.id));
            match page.next_cursor {
                Some(cursor) => filter.after = Some(cursor),
                None => break,
            }
        }
        campaigns.retain(|campaign| own.contains(&campaign.id));
    }
    Ok(Json(PartnerResponse::new(view, Some(campaigns))))
}

/// A partner's event stream, in order (read from the log itself, so always current).
#[utoipa::path(get, path = "/partners/{id}/events", tag = "partners",
    params(("id" = Uuid, Path, description = "Partner id"), Consistency),
    responses((status = 200, body = StreamResponse), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub(crate) async fn partner_events(
    State(state): State<AppState>,
    principal: Principal,
    id: AggregateId<Partner>,
    QueryParams(query): QueryParams<Consistency>,
) -> Result<Json<StreamResponse>, ApiError> {
    let id = id.uuid()?.to_string();
    reads::check_position(&state, query.min_position).await?;
    let events = match access::sees_partner(&principal, &id) {
        true => queries::partner_events(&state.db, &id).await?,
        false => Vec::new(),
    };
    StreamResponse::of(events).ok_or_else(|| Partner::not_found(&id))
}
