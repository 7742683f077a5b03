//! `/openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the request/response types.

use crate::state::AppState;
use crate::{campaigns, commands, error, health, money, partners};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Alpes Partners API", description = "Event-sourced campaigns and partners. Every command answers with the ids of the events it committed."),
    paths(
        campaigns::create_campaign, campaigns::add_participant, campaigns::remove_participant,
        campaigns::change_budget, campaigns::reschedule, campaigns::activate, campaigns::pause,
        campaigns::resume, campaigns::complete, campaigns::cancel,
        partners::register_partner, partners::update_profile, partners::suspend, partners::reinstate,
        partners::deactivate,
        health::health, health::ready,
    ),
    components(schemas(error::Problem, commands::CommandAccepted, money::MoneyBody)),
    tags(
        (name = "campaigns", description = "Campaign commands"),
        (name = "partners", description = "Partner commands"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
