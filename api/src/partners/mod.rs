//! `/partners`: commands (write side) and queries (read models).

pub mod commands;
pub mod queries;

use crate::state::AppState;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().merge(commands::router()).merge(queries::router())
}
