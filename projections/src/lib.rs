//! Projections: background tasks that tail the event log from checkpoints and build
//! the read models the query endpoints serve. Any view can be rebuilt from the log,
//! without downtime.
//!
//! Everything works on both storage backends ([`store::Database`]: Postgres, or the
//! embedded SQLite file) with one copy of the logic: the folds, batching, checkpoints,
//! poison handling, rebuilds and queries are backend-neutral; each backend's
//! statements live in its folder, behind the two traits of `storage`.
//!
//! # Layout
//! - [`projection`]: the [`Projection`] trait: a read model, to its projector.
//! - [`campaigns`], [`partners`]: the two projections (`campaign_view` +
//!   `partner_campaigns`, and `partner_view`), each a pure fold of events into rows
//!   plus a few batched statements.
//! - [`projector`]: [`Projector`], a handler of the store's log-consumer runtime that
//!   applies batches exactly once, in commit order; [`ProjectorHandle`] to watch and
//!   operate it.
//! - [`rebuild`]: replay into shadow tables, then an atomic swap.
//! - [`queries`]: reading the views.
//! - `rows`: moving rows between the database and Rust as JSON documents.
//! - `storage`: what the projections need from a database ([`storage::ViewStore`],
//!   [`storage::ViewTransaction`]), implemented by `postgres/` and `sqlite/`, each with
//!   its `.sql` files beside it. Tables are in `migrations/postgres/` and
//!   `migrations/sqlite/`.

pub mod campaigns;
pub mod partners;
mod postgres;
pub mod projection;
pub mod projector;
pub mod queries;
pub mod rebuild;
mod rows;
mod sqlite;
pub mod storage;

pub use projection::Projection;
pub use projector::{Projector, ProjectorHandle, ProjectorSettings, ProjectorState, ProjectorStatus};

use cqrs_es::persist::EventUpcaster;
use std::sync::Arc;
use std::time::Duration;
use store::{Database, LogWaker};

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
