//! [`AppState`]: what the handlers share.

use aggregates::campaign::Campaign;
use aggregates::partner::Partner;
use projections::Projections;
use std::sync::Arc;
use std::time::Duration;
use store::{CommandExecutor, Database};

#[derive(Clone)]
pub struct AppState {
    pub campaigns: Arc<CommandExecutor<Campaign>>,
    pub partners: Arc<CommandExecutor<Partner>>,
    /// The read models' projectors, for read-your-writes waits and operations.
    pub projections: Projections,
    /// How long a query waits for its `min_position` before answering 503.
    pub consistency_timeout: Duration,
    /// The outbox relay running in this process, for `GET /relay`.
    pub relay: Option<bus::RelayHandle>,
    /// Queries read the views through it; `/ready` pings it.
    pub db: Database,
    /// Where the seed routes' commands go, and where their outcomes are read.
    pub commands: crate::seed::CommandDesk,
}
