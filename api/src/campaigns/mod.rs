//! `/campaigns`: commands (write side) and queries (read models).

pub mod commands;
pub mod queries;

use crate::extract::Addressable;
use crate::state::AppState;
use aggregates::campaign::Campaign;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().merge(commands::router()).merge(queries::router())
}

/// `/campaigns/{id}` names a campaign.
impl Addressable for Campaign {
    const NAME: &'static str = "campaign";
    const NOT_FOUND: &'static str = "campaign.not_found";
}
