//! `/openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the request/response types.

use crate::campaigns::{commands as campaign_commands, queries as campaign_queries};
use crate::partners::{commands as partner_commands, queries as partner_queries};
use crate::state::AppState;
use crate::{admin, commands, error, health, money};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Alpes Partners API", description = "Event-sourced campaigns and partners. Every command answers with the ids of the events it committed."),
    paths(
        campaign_commands::create_campaign, campaign_commands::add_participant,
        campaign_commands::remove_participant, campaign_commands::change_budget, campaign_commands::reschedule,
        campaign_commands::activate, campaign_commands::pause, campaign_commands::resume,
        campaign_commands::complete, campaign_commands::cancel,
        campaign_queries::list_campaigns, campaign_queries::get_campaign, campaign_queries::campaign_events,
        partner_commands::register_partner, partner_commands::update_profile, partner_commands::suspend,
        partner_commands::reinstate, partner_commands::deactivate,
        partner_queries::list_partners, partner_queries::get_partner,
        admin::projection_status, admin::relay_status, admin::rebuild_projection, admin::retry_projection, admin::skip_event,
        health::health, health::ready,
    ),
    components(schemas(error::Problem, commands::CommandAccepted, money::MoneyBody)),
    tags(
        (name = "campaigns", description = "Campaign commands"),
        (name = "partners", description = "Partner commands"),
        (name = "operations", description = "Health, readiness and projections"),
    )
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
