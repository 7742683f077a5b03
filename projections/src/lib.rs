//! Projections: background tasks that tail the event log from checkpoints and build
//! the read models the query endpoints serve. Any view can be rebuilt from the log,
//! without downtime.
//!
//! Everything works on both storage backends ([`store::Database`]: Postgres, or the
//! embedded SQLite file) with one copy of the logic: the folds, batching, checkpoints,
//! poison handling, rebuilds and queries are backend-neutral, and only the statements
//! (`sql/postgres/`, `sql/sqlite/`) and the leadership mechanism differ.
//!
//! # Layout
//! - [`projection`]: the [`Projection`] trait: a read model, to its projector, applied
//!   through a [`ViewConnection`] of either backend.
//! - [`campaigns`], [`partners`]: the two projections (`campaign_view` +
//!   `partner_campaigns`, and `partner_view`), each a pure fold of events into rows
//!   plus a few batched statements.
//! - [`projector`]: [`Projector`], the task that applies batches exactly once, in commit
//!   order, with one leader across processes; [`ProjectorHandle`] to watch and operate it.
//! - [`rebuild`]: replay into shadow tables, then an atomic swap.
//! - [`queries`]: reading the views.
//! - `rows`: moving rows between the database and Rust as JSON documents.
//! - `checkpoint`: a projector's row in `projector_checkpoints`.
//! - `backend`: what differs per backend: connections, write transactions, and each
//!   statement in both dialects.
//!
//! SQL lives in `projections/sql/postgres/` and `projections/sql/sqlite/` (one file
//! name, two dialects); tables in `migrations/postgres/` and `migrations/sqlite/`.

mod backend;
pub mod campaigns;
mod checkpoint;
pub mod partners;
pub mod projection;
pub mod projector;
pub mod queries;
pub mod rebuild;
mod rows;

pub use backend::ViewConnection;
pub use projection::Projection;
pub use projector::{Projector, ProjectorHandle, ProjectorSettings, ProjectorState, ProjectorStatus};

use cqrs_es::persist::EventUpcaster;
use std::sync::Arc;
use std::time::Duration;
use store::reader::LogWaker;
use store::Database;

/// Every projector of the application, by name.
#[derive(Clone)]
pub struct Projections {
    handles: Vec<ProjectorHandle>,
}

/// A view that had not caught up in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCaughtUp {
    pub projection: &'static str,
    /// The global position it had applied when the wait gave up.
    pub checkpoint: i64,
}

impl Projections {
    /// Creates the projectors (`campaigns`, `partners`) over `db`; the caller runs
    /// them (or not: the handles alone serve status, retry, skip and rebuild).
    pub fn new(
        db: &Database,
        waker: &LogWaker,
        settings: &ProjectorSettings,
        upcasters: impl Fn() -> Vec<Box<dyn EventUpcaster>>,
    ) -> (Self, Vec<Projector>) {
        let projections: Vec<Arc<dyn Projection>> = vec![
            Arc::new(campaigns::CampaignsProjection::new(upcasters())),
            Arc::new(partners::PartnersProjection::new(upcasters())),
        ];
        let (projectors, handles) = projections
            .into_iter()
            .map(|projection| Projector::new(projection, db.clone(), waker.clone(), settings.clone()))
            .unzip();
        (Self { handles }, projectors)
    }

    pub fn all(&self) -> &[ProjectorHandle] {
        &self.handles
    }

    pub fn get(&self, name: &str) -> Option<&ProjectorHandle> {
        self.handles.iter().find(|handle| handle.name() == name)
    }

    /// Waits until every named projection has applied the event at `position`.
    pub async fn wait_until_applied(
        &self,
        names: &[&str],
        position: i64,
        timeout: Duration,
    ) -> Result<Result<(), NotCaughtUp>, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        for name in names {
            let Some(handle) = self.get(name) else { continue };
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !handle.wait_until_applied(position, left).await? {
                let checkpoint = handle.status().await?.checkpoint;
                return Ok(Err(NotCaughtUp {
                    projection: handle.name(),
                    checkpoint,
                }));
            }
        }
        Ok(Ok(()))
    }
}
