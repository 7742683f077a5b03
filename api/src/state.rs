//! [`AppState`]: what the handlers share.

use aggregates::campaign::Campaign;
use aggregates::partner::Partner;
use sqlx::PgPool;
use std::sync::Arc;
use store::CommandExecutor;

#[derive(Clone)]
pub struct AppState {
    pub campaigns: Arc<CommandExecutor<Campaign>>,
    pub partners: Arc<CommandExecutor<Partner>>,
    /// For `/ready`.
    pub pool: PgPool,
}
