//! `/partners`: commands (write side) and queries (read models).

pub mod commands;
pub mod queries;

use crate::extract::Addressable;
use crate::state::AppState;
use aggregates::partner::Partner;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().merge(commands::router()).merge(queries::router())
}

/// `/partners/{id}` names a partner.
impl Addressable for Partner {
    const NAME: &'static str = "partner";
    const NOT_FOUND: &'static str = "partner.not_found";
}
