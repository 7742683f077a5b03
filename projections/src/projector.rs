//! [`Projector`]: the background task that keeps one read model up to date: a
//! handler of the store's log-consumer runtime ([`LogConsumer`]), which owns what every
//! consumer of the log shares (one leader per projector across processes, the
//! commit-order tail and its wake-ups, backoff, stopping at a poison event until an
//! operator retries or skips it). What is the projector's own:
//!
//! - **Exactly once**: a batch's effects and the checkpoint move in one transaction,
//!   which starts by reading the checkpoint under a lock (Postgres: `FOR UPDATE`;
//!   SQLite: the write transaction holds the database's write lock) and checking it is
//!   where the batch was read from: a fence against a stale leader and a rebuild's swap.
//! - **Its checkpoint row** (`projector_checkpoints`): the cursor, the event it stopped
//!   at and why, the operator's retry and skip ([`ProjectorHandle::retry`],
//!   [`ProjectorHandle::skip`]).

use crate::projection::{ApplyError, Projection, Tables};
use crate::storage::ViewStore;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use store::{
    ConsumerSettings, ConsumerState, ConsumerStatus, Database, HandleError, Handled, Lease, LogConsumer,
    LogCursor, LogHandler, LogWaker, RecordedEvent, Resume,
};
use tokio::sync::watch;
use uuid::Uuid;

pub use crate::storage::Checkpoint;

/// SQLite: how many periods a running projector's lease lasts, a period being the
/// longer of [`ProjectorSettings::leadership_check`] and
/// [`ProjectorSettings::poll_interval`]: a process that died stops being the leader
/// (and being reported running) within ten.
const LEASE_PERIODS: u32 = 10;

/// Tuning of a projector.
#[derive(Debug, Clone)]
pub struct ProjectorSettings {
    /// Events read and applied per transaction.
    pub batch_size: i64,
    /// How long to wait for a notification before polling the log anyway.
    pub poll_interval: Duration,
    /// Delays between the attempts at an event that cannot be applied, before the
    /// projector stops at it.
    pub poison_retry_delays: Vec<Duration>,
    /// Under sustained load (the read right after a batch found more events, and the
    /// batch held at least 16), how long to wait before the next read when a batch did
    /// not fill up, so that it gathers more events: fewer and larger transactions, each
    /// with a fixed cost of about eight statements (measured: 13% less machine CPU per
    /// command at 8 clients with 3 ms). It adds at most this to the views' lag under
    /// load; after a quiet moment the first batch is read at once.
    pub batch_linger: Duration,
    /// How often the leader renews its lease (Postgres: checks the lock's connection is
    /// alive), and a standby tries to take it.
    pub leadership_check: Duration,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll_interval: Duration::from_secs(1),
            batch_linger: Duration::from_millis(3),
            poison_retry_delays: vec![
                Duration::from_millis(100),
                Duration::from_millis(500),
                Duration::from_secs(2),
            ],
            leadership_check: Duration::from_secs(1),
        }
    }
}

impl ProjectorSettings {
    fn consumer(&self) -> ConsumerSettings {
        ConsumerSettings {
            batch_size: self.batch_size,
            poll_interval: self.poll_interval,
            batch_linger: self.batch_linger,
            lease_check: self.leadership_check,
            standby_retry: self.leadership_check,
            lease_duration: self.leadership_check.max(self.poll_interval) * LEASE_PERIODS,
            poison_retry_delays: self.poison_retry_delays.clone(),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            // The next read waits for the linger instead.
            read_ahead: false,
        }
    }
}

/// What a projector is doing, as seen from this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectorState {
    /// Not yet connected.
    Starting,
    /// Applying events: this process leads it. Seen from a process that does not run
    /// it: another process does.
    Running,
    /// Another process leads it; this one takes over if it dies.
    Standby,
    /// A rebuild of the view is in progress (the live view keeps serving).
    Rebuilding,
    /// Stopped at an event it could not apply, until an operator retries or skips it.
    Failed,
    /// No process runs it (seen from a process that runs no projectors, like the CLI).
    Stopped,
}

impl ProjectorState {
    pub const ALL: [ProjectorState; 6] = [
        ProjectorState::Starting,
        ProjectorState::Running,
        ProjectorState::Standby,
        ProjectorState::Rebuilding,
        ProjectorState::Failed,
        ProjectorState::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProjectorState::Starting => "starting",
            ProjectorState::Running => "running",
            ProjectorState::Standby => "standby",
            ProjectorState::Rebuilding => "rebuilding",
            ProjectorState::Failed => "failed",
            ProjectorState::Stopped => "stopped",
        }
    }

    /// The runtime's state, as a projector's. Backing off after database trouble is
    /// still running (the error shows in `last_error`).
    fn of(state: ConsumerState) -> Self {
        match state {
            ConsumerState::Starting => ProjectorState::Starting,
            ConsumerState::Running | ConsumerState::BackingOff => ProjectorState::Running,
            ConsumerState::Standby => ProjectorState::Standby,
            ConsumerState::Failed => ProjectorState::Failed,
            ConsumerState::Stopped => ProjectorState::Stopped,
        }
    }
}

/// A projector, ready to [`run`](Projector::run).
pub struct Projector {
    consumer: LogConsumer<Applying>,
}

/// What the rest of the process holds to observe and operate a projector.
#[derive(Clone)]
pub struct ProjectorHandle {
    projection: Arc<dyn Projection>,
    db: Database,
    views: Arc<dyn ViewStore>,
    status: watch::Receiver<ConsumerStatus>,
}

impl Projector {
    /// A projector of `projection` over `db`, and its handle.
    pub fn new(
        projection: Arc<dyn Projection>,
        db: Database,
        waker: LogWaker,
        settings: ProjectorSettings,
    ) -> (Self, ProjectorHandle) {
        let views: Arc<dyn ViewStore> = Arc::from(db.per_backend::<Box<dyn ViewStore>>());
        let handler = Applying {
            projection: projection.clone(),
            views: views.clone(),
            db: db.clone(),
            leading: false,
        };
        let consumer = LogConsumer::new(
            "projector",
            projection.name(),
            db.clone(),
            waker,
            settings.consumer(),
            handler,
        );
        let handle = ProjectorHandle {
            projection,
            db,
            views,
            status: consumer.status(),
        };
        (Self { consumer }, handle)
    }

    /// Runs forever: stands by until it leads, then follows the log.
    pub async fn run(self) {
        self.consumer.run().await
    }

    /// Runs it in the background; [`ConsumerTask::shutdown`] stops it and gives its
    /// lease up (a successor leads at once, also on SQLite).
    pub fn spawn(self) -> store::ConsumerTask {
        self.consumer.spawn()
    }
}

/// The projector's part, plugged into the runtime: apply a batch in one transaction
/// with the checkpoint.
struct Applying {
    projection: Arc<dyn Projection>,
    views: Arc<dyn ViewStore>,
    db: Database,
    /// Whether this session's start-up is done.
    leading: bool,
}

#[async_trait]
impl LogHandler for Applying {
    async fn resume(&mut self) -> Result<Resume, HandleError> {
        let name = self.projection.name();
        if !self.leading {
            self.views.ensure_checkpoint(name).await?;
            crate::rebuild::clear_stale_rebuild(&self.db, &*self.views, name).await?;
            self.leading = true;
        }
        let checkpoint = self.views.checkpoint(name).await?;
        Ok(Resume {
            cursor: checkpoint.cursor,
            failed: checkpoint.failed_event_id.is_some(),
        })
    }

    async fn handle(&mut self, from: LogCursor, events: &[RecordedEvent]) -> Result<Handled, HandleError> {
        apply_batch(&*self.views, &*self.projection, from, events).await?;
        Ok(Handled::Confirmed)
    }

    async fn stop_at(
        &mut self,
        at: LogCursor,
        event: &RecordedEvent,
        reason: &str,
    ) -> Result<(), HandleError> {
        self.views
            .record_failure(self.projection.name(), at, event, reason)
            .await?;
        Ok(())
    }

    async fn end_session(&mut self, _stopping: bool) {
        self.leading = false;
    }
}

/// Applies `events` (read after `from`) to the live view and advances the checkpoint,
/// in one transaction, which first checks that the checkpoint is still at `from`.
async fn apply_batch(
    views: &dyn ViewStore,
    projection: &dyn Projection,
    from: LogCursor,
    events: &[RecordedEvent],
) -> Result<(), HandleError> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    let mut tx = views.begin().await?;
    match tx.locked_cursor(projection.name()).await? {
        Some(cursor) if cursor == from => {}
        Some(_) => return Err(HandleError::Fenced),
        // Deleted under it (by hand): a new session makes it again (`resume`), after a
        // backoff, instead of fencing every batch at once.
        None => {
            return Err(HandleError::Transient(
                "the projector's checkpoint row is missing".into(),
            ))
        }
    }
    match projection.apply(&mut *tx, Tables::Live, events).await {
        Ok(()) => {}
        Err(ApplyError::Poison { index, reason }) => return Err(HandleError::Poison { index, reason }),
        Err(ApplyError::Database(error)) => return Err(error.into()),
    }
    tx.advance(projection.name(), last.cursor, events.len()).await?;
    tx.commit().await?;
    Ok(())
}

/// A projector's status, for `GET /projections` and `alpes projections status`.
#[derive(Debug, Clone)]
pub struct ProjectorStatus {
    pub name: &'static str,
    pub state: ProjectorState,
    /// Global position of the last event applied.
    pub checkpoint: i64,
    /// Highest position in the log.
    pub head: i64,
    /// Committed events not applied yet.
    pub lag: i64,
    /// When the oldest of them was recorded (`None` when caught up): the lag in time.
    pub oldest_unapplied_at: Option<chrono::DateTime<chrono::Utc>>,
    pub events_applied: i64,
    pub last_error: Option<String>,
    /// The event it stopped at, when `failed`.
    pub failed_event_id: Option<Uuid>,
    pub failed_position: Option<i64>,
    /// How far a running rebuild got (global position), when `rebuilding`.
    pub rebuild_position: Option<i64>,
}

impl ProjectorStatus {
    /// The lag in time: how long the oldest unapplied event has waited (0 when caught up).
    pub fn lag_seconds(&self) -> f64 {
        self.oldest_unapplied_at.map_or(0.0, store::seconds_since)
    }
}

/// The outcome of an operator's retry or skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intervention {
    Done,
    /// The projector had not failed: nothing to retry or skip.
    NotFailed,
}

impl ProjectorHandle {
    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    pub fn projection(&self) -> Arc<dyn Projection> {
        self.projection.clone()
    }

    /// The database the projector reads and writes.
    pub fn database(&self) -> &Database {
        &self.db
    }

    pub(crate) fn views(&self) -> &dyn ViewStore {
        &*self.views
    }

    pub async fn status(&self) -> Result<ProjectorStatus, sqlx::Error> {
        let checkpoint = self.views.checkpoint(self.name()).await?;
        let head = self.db.head_position().await?;
        let lag = self.db.count_after(checkpoint.cursor).await?;
        let oldest_unapplied_at = match lag {
            0 => None,
            _ => self.db.oldest_after(checkpoint.cursor).await?,
        };
        let runtime = self.status.borrow().clone();
        // What the database says (failed, rebuilding) holds in every process; the rest
        // is this process's own view (running here, or standing by).
        let state = if checkpoint.failed_event_id.is_some() {
            ProjectorState::Failed
        } else if checkpoint.rebuilding && crate::rebuild::is_running(&self.db, self.name()).await? {
            ProjectorState::Rebuilding
        } else {
            match ProjectorState::of(runtime.state) {
                // An operator cleared the failure; the projector has not noticed yet.
                ProjectorState::Failed => ProjectorState::Running,
                // This process does not run it (or has not started it yet): does another?
                ProjectorState::Starting | ProjectorState::Stopped => {
                    if Lease::is_held(&self.db, &Lease::key("projector", self.name())).await? {
                        ProjectorState::Running
                    } else {
                        ProjectorState::Stopped
                    }
                }
                state => state,
            }
        };
        // This process's trouble shows while it lasts: once the projector runs again
        // here, it is over.
        let local_error = match runtime.state {
            ConsumerState::Running => None,
            _ => runtime.last_error,
        };
        Ok(ProjectorStatus {
            name: self.name(),
            state,
            checkpoint: checkpoint.cursor.position,
            head,
            lag,
            oldest_unapplied_at,
            events_applied: checkpoint.events_applied,
            last_error: checkpoint.last_error.or(local_error),
            failed_event_id: checkpoint.failed_event_id,
            failed_position: checkpoint.failed_position,
            rebuild_position: checkpoint.rebuild_position,
        })
    }

    /// Waits until the projector has applied the event at `position`, for at most
    /// `timeout`. `Ok(false)` on timeout. A position that names no event (a gap left by
    /// a rolled-back transaction) counts as applied once the log has moved past it.
    pub async fn wait_until_applied(&self, position: i64, timeout: Duration) -> Result<bool, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut handled = self.status.clone();
        loop {
            let covered = self.views.applied(self.name(), position).await?;
            if covered.unwrap_or(true) {
                return Ok(true);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            // Woken at once by a batch applied here; polled when another process leads.
            // When this process does not run the projector (the CLI, or its projector
            // task ended), `changed` fails at once: wait for the poll then, rather than
            // spin until the deadline.
            let wake = async {
                if handled.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let _ = tokio::time::timeout_at(deadline.min(now + Duration::from_millis(20)), wake).await;
        }
    }

    /// Clears a failure: the projector tries its event again.
    pub async fn retry(&self) -> Result<Intervention, sqlx::Error> {
        let retried = self.views.retry(self.name()).await?;
        self.db.wake_readers().await?;
        Ok(if retried {
            Intervention::Done
        } else {
            Intervention::NotFailed
        })
    }

    /// Skips the event the projector failed on (recorded in `skipped_event_ids`).
    pub async fn skip(&self) -> Result<Intervention, sqlx::Error> {
        let skipped = self.views.skip(self.name()).await?;
        if let Some(event_id) = skipped {
            tracing::warn!(projector = self.name(), %event_id, "event skipped by an operator");
        }
        self.db.wake_readers().await?;
        Ok(if skipped.is_some() {
            Intervention::Done
        } else {
            Intervention::NotFailed
        })
    }
}
