//! [`Projector`]: the background task that keeps one read model up to date.
//!
//! - **Leadership**: one active instance per projector across processes, by a
//!   session advisory lock held on a dedicated connection. Others stand by and retry;
//!   when the leader's process dies its connection closes, the lock is released and a
//!   standby takes over.
//! - **Exactly once**: a batch's effects and the checkpoint move in one transaction,
//!   which starts by locking the checkpoint row and checking it is where the batch was
//!   read from (a fence against a stale leader and a rebuild's swap).
//! - **Commit order**: the log is read with [`store::reader::read_after`], which never
//!   skips an event whose transaction commits late.
//! - **Wake-up**: LISTEN/NOTIFY after commits ([`store::reader::LogWaker`]), with polling
//!   as a fallback.
//! - **Poison events**: an event that cannot be applied is retried with backoff, then
//!   the projector stops at it, records it and reports `failed`; an operator retries
//!   or skips it ([`ProjectorHandle::retry`], [`ProjectorHandle::skip`]).

use crate::projection::{ApplyError, Projection, Tables};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{Connection, PgConnection, Row};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::reader::{self, LogCursor, LogWaker, RecordedEvent};
use tokio::sync::watch;
use uuid::Uuid;

/// How soon to look again when committed events are held back by an older
/// transaction that is still running: at the next commit's notification, or after
/// this, doubling up to [`HELD_BACK_MAX`] while it lasts. (Rereading every
/// millisecond regardless halved command throughput under load.)
const HELD_BACK_RECHECK: Duration = Duration::from_millis(1);
const HELD_BACK_MAX: Duration = Duration::from_millis(4);

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
    /// How often the leader checks that it still holds its lock, and a standby tries
    /// to take it.
    pub leadership_check: Duration,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll_interval: Duration::from_secs(1),
            poison_retry_delays: vec![
                Duration::from_millis(100),
                Duration::from_millis(500),
                Duration::from_secs(2),
            ],
            leadership_check: Duration::from_secs(1),
        }
    }
}

/// What a projector is doing, as seen from this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectorState {
    /// Not yet connected.
    Starting,
    /// Applying events: this process holds the projector's lock.
    Running,
    /// Another process holds the lock; this one takes over if it dies.
    Standby,
    /// A rebuild of the view is in progress (the live view keeps serving).
    Rebuilding,
    /// Stopped at an event it could not apply, until an operator retries or skips it.
    Failed,
    /// No process runs it (seen from a process that runs no projectors, like the CLI).
    Stopped,
}

impl ProjectorState {
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
}

/// The projector's progress as stored in `projector_checkpoints`.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    pub cursor: LogCursor,
    pub events_applied: i64,
    pub failed_event_id: Option<Uuid>,
    pub failed_position: Option<i64>,
    pub last_error: Option<String>,
    pub rebuilding: bool,
    pub rebuild_position: Option<i64>,
}

/// A projector, ready to [`run`](Projector::run).
pub struct Projector {
    projection: Arc<dyn Projection>,
    pool: PgPool,
    /// For the dedicated connection that holds the leadership lock: a pooled one
    /// would be returned to the pool, and the lock with it.
    connect_options: PgConnectOptions,
    waker: LogWaker,
    settings: ProjectorSettings,
    state: watch::Sender<ProjectorState>,
    /// The last error this process met (database trouble while running).
    last_error: watch::Sender<Option<String>>,
    /// The cursor after each applied batch, for read-your-writes waiters here.
    applied: watch::Sender<LogCursor>,
}

/// What the rest of the process holds to observe and operate a projector.
#[derive(Clone)]
pub struct ProjectorHandle {
    projection: Arc<dyn Projection>,
    pool: PgPool,
    connect_options: PgConnectOptions,
    state: watch::Receiver<ProjectorState>,
    last_error: watch::Receiver<Option<String>>,
    applied: watch::Receiver<LogCursor>,
}

/// Why a projector stopped following the log for a while.
#[derive(Debug, thiserror::Error)]
enum Interrupted {
    #[error("lost the leadership lock")]
    LostLeadership,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Projector {
    pub fn new(
        projection: Arc<dyn Projection>,
        pool: PgPool,
        connect_options: PgConnectOptions,
        waker: LogWaker,
        settings: ProjectorSettings,
    ) -> (Self, ProjectorHandle) {
        let (state, state_rx) = watch::channel(ProjectorState::Starting);
        let (last_error, last_error_rx) = watch::channel(None);
        let (applied, applied_rx) = watch::channel(LogCursor::START);
        let handle = ProjectorHandle {
            projection: projection.clone(),
            pool: pool.clone(),
            connect_options: connect_options.clone(),
            state: state_rx,
            last_error: last_error_rx,
            applied: applied_rx,
        };
        (
            Self {
                projection,
                pool,
                connect_options,
                waker,
                settings,
                state,
                last_error,
                applied,
            },
            handle,
        )
    }

    fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// Runs forever: stands by until it holds the lock, then follows the log.
    #[tracing::instrument(skip_all, fields(projector = self.name()))]
    pub async fn run(self) {
        let mut backoff = Backoff::new();
        loop {
            match self.take_leadership().await {
                Ok(Some(leader)) => {
                    tracing::info!("leading");
                    match self.follow_log(leader).await {
                        Ok(never) => match never {},
                        Err(Interrupted::LostLeadership) => tracing::warn!("lost leadership"),
                        Err(Interrupted::Database(error)) => {
                            tracing::warn!(%error, "database error; reconnecting");
                            self.last_error.send_replace(Some(error.to_string()));
                            tokio::time::sleep(backoff.next()).await;
                        }
                    }
                }
                Ok(None) => {
                    self.state.send_replace(ProjectorState::Standby);
                    tokio::time::sleep(self.settings.leadership_check).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot reach the database");
                    self.last_error.send_replace(Some(error.to_string()));
                    tokio::time::sleep(backoff.next()).await;
                }
            }
        }
    }

    /// A connection holding the projector's lock, or `None` when another has it.
    async fn take_leadership(&self) -> Result<Option<PgConnection>, sqlx::Error> {
        let mut connection = PgConnection::connect_with(&self.connect_options).await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('projector:' || $1))")
            .bind(self.name())
            .fetch_one(&mut connection)
            .await?;
        Ok(locked.then_some(connection))
    }

    /// Applies the log until interrupted (it never returns otherwise).
    async fn follow_log(&self, mut leader: PgConnection) -> Result<Infallible, Interrupted> {
        sqlx::query("INSERT INTO projector_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(self.name())
            .execute(&self.pool)
            .await?;
        crate::rebuild::clear_stale_rebuild(&self.pool, self.name()).await?;
        let mut waker = self.waker.clone();
        let mut checkpoint = load_checkpoint(&self.pool, self.name()).await?;
        let mut last_leadership_check = Instant::now();
        let mut poison_attempts = 0;
        // Applying one event per batch, to find the event behind a data error.
        let mut isolating = false;
        let mut held_back = HELD_BACK_RECHECK;
        self.last_error.send_replace(None);
        loop {
            if last_leadership_check.elapsed() >= self.settings.leadership_check {
                leader.ping().await.map_err(|_| Interrupted::LostLeadership)?;
                last_leadership_check = Instant::now();
            }
            if checkpoint.failed_event_id.is_some() {
                // Stopped at a poison event until an operator acts (any process can).
                self.state.send_replace(ProjectorState::Failed);
                waker.wait(self.settings.poll_interval).await;
                checkpoint = load_checkpoint(&self.pool, self.name()).await?;
                continue;
            }
            self.state.send_replace(ProjectorState::Running);
            self.applied.send_replace(checkpoint.cursor);

            let limit = if isolating { 1 } else { self.settings.batch_size };
            let events = reader::read_after(&self.pool, checkpoint.cursor, limit).await?;
            if events.is_empty() {
                if reader::any_after(&self.pool, checkpoint.cursor).await? {
                    // Committed events exist but an older transaction is still running
                    // (anywhere on the server: the horizon is cluster-wide), so they are
                    // not safe to read yet. Its end notifies nobody (unless it appended
                    // events): look again at the next notification or soon after.
                    waker.wait(held_back).await;
                    held_back = (held_back * 2).min(HELD_BACK_MAX);
                } else {
                    waker.wait(self.settings.poll_interval).await;
                }
                continue;
            }
            held_back = HELD_BACK_RECHECK;
            match apply_batch(
                &self.pool,
                &*self.projection,
                Tables::Live,
                checkpoint.cursor,
                &events,
            )
            .await
            {
                Ok(Batch::Applied(cursor)) => {
                    checkpoint.cursor = cursor;
                    poison_attempts = 0;
                    isolating = false;
                }
                Ok(Batch::Isolate(error)) => {
                    tracing::warn!(%error, "the database refused a batch; applying its events one by one");
                    isolating = true;
                }
                Ok(Batch::Fenced) => checkpoint = load_checkpoint(&self.pool, self.name()).await?,
                Ok(Batch::Poisoned { index: 0, reason }) => {
                    let event = &events[0];
                    match self.settings.poison_retry_delays.get(poison_attempts) {
                        Some(delay) => {
                            tracing::warn!(event_id = %event.event_id, %reason, attempt = poison_attempts + 1, "cannot apply event; retrying");
                            poison_attempts += 1;
                            tokio::time::sleep(*delay).await;
                        }
                        None => {
                            tracing::error!(event_id = %event.event_id, %reason, "cannot apply event; stopping at it");
                            record_failure(&self.pool, self.name(), checkpoint.cursor, event, &reason)
                                .await?;
                            checkpoint = load_checkpoint(&self.pool, self.name()).await?;
                            poison_attempts = 0;
                        }
                    }
                }
                Ok(Batch::Poisoned { index, .. }) => {
                    // Apply what precedes the poison event; the next round starts at it.
                    match apply_batch(
                        &self.pool,
                        &*self.projection,
                        Tables::Live,
                        checkpoint.cursor,
                        &events[..index],
                    )
                    .await?
                    {
                        Batch::Applied(cursor) => checkpoint.cursor = cursor,
                        Batch::Isolate(_) => isolating = true,
                        _ => checkpoint = load_checkpoint(&self.pool, self.name()).await?,
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// How applying a batch ended.
pub(crate) enum Batch {
    /// Applied; the checkpoint is now this cursor.
    Applied(LogCursor),
    /// The checkpoint was not where the batch was read from: someone else moved it.
    Fenced,
    /// The event at `index` cannot be applied; nothing was written.
    Poisoned { index: usize, reason: String },
    /// The database refused the data of an event of this batch (see [`is_data_error`]);
    /// nothing was written. Which event is found by applying them one by one.
    Isolate(String),
}

/// Whether the database refused the data itself (a value it cannot store, a
/// constraint), which retrying will not fix, rather than failing for a while.
pub(crate) fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("23")),
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => true,
        _ => false,
    }
}

/// Applies `events` (read after `from`) and advances the checkpoint, in one transaction.
pub(crate) async fn apply_batch(
    pool: &PgPool,
    projection: &dyn Projection,
    tables: Tables,
    from: LogCursor,
    events: &[RecordedEvent],
) -> Result<Batch, sqlx::Error> {
    let Some(last) = events.last() else {
        return Ok(Batch::Applied(from));
    };
    let mut tx = pool.begin().await?;
    let row = sqlx::query(include_str!("../sql/checkpoint_lock.sql"))
        .bind(projection.name())
        .fetch_optional(&mut *tx)
        .await?;
    let current = row
        .map(|row| -> Result<LogCursor, sqlx::Error> {
            Ok(LogCursor {
                transaction_id: row.try_get("transaction_id")?,
                position: row.try_get("position")?,
            })
        })
        .transpose()?;
    if current != Some(from) {
        return Ok(Batch::Fenced);
    }
    match projection.apply(&mut tx, tables, events).await {
        Ok(()) => {}
        Err(ApplyError::Poison { index, reason }) => return Ok(Batch::Poisoned { index, reason }),
        Err(ApplyError::Database(error)) if is_data_error(&error) => {
            return Ok(match events {
                [_] => Batch::Poisoned {
                    index: 0,
                    reason: format!("the database refused its effect: {error}"),
                },
                _ => Batch::Isolate(error.to_string()),
            });
        }
        Err(ApplyError::Database(error)) => return Err(error),
    }
    sqlx::query(include_str!("../sql/checkpoint_advance.sql"))
        .bind(projection.name())
        .bind(last.cursor.transaction_id.to_string())
        .bind(last.cursor.position)
        .bind(events.len() as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Batch::Applied(last.cursor))
}

/// Records that the projector stopped at `event`, if its checkpoint is still `at`
/// (a rebuild's swap or another leader may have moved it meanwhile).
async fn record_failure(
    pool: &PgPool,
    name: &str,
    at: LogCursor,
    event: &RecordedEvent,
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("../sql/checkpoint_fail.sql"))
        .bind(name)
        .bind(event.event_id)
        .bind(event.position())
        .bind(reason)
        .bind(at.transaction_id.to_string())
        .bind(at.position)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn load_checkpoint(pool: &PgPool, name: &str) -> Result<Checkpoint, sqlx::Error> {
    let Some(row) = sqlx::query(include_str!("../sql/checkpoint_read.sql"))
        .bind(name)
        .fetch_optional(pool)
        .await?
    else {
        return Ok(Checkpoint::default());
    };
    Ok(Checkpoint {
        cursor: LogCursor {
            transaction_id: row.try_get("transaction_id")?,
            position: row.try_get("position")?,
        },
        events_applied: row.try_get("events_applied")?,
        failed_event_id: row.try_get("failed_event_id")?,
        failed_position: row.try_get("failed_position")?,
        last_error: row.try_get("last_error")?,
        rebuilding: row
            .try_get::<Option<chrono::DateTime<chrono::Utc>>, _>("rebuild_started_at")?
            .is_some(),
        rebuild_position: row.try_get("rebuild_position")?,
    })
}

/// Whether some session holds the advisory lock named `key` (see `sql/lock_held.sql`).
pub(crate) async fn lock_held(pool: &PgPool, key: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(include_str!("../sql/lock_held.sql"))
        .bind(key)
        .fetch_one(pool)
        .await
}

/// Exponential backoff for database trouble: 100 ms doubling up to 30 s.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self {
            next: Duration::from_millis(100),
        }
    }

    fn next(&mut self) -> Duration {
        let current = self.next;
        self.next = (self.next * 2).min(Duration::from_secs(30));
        current
    }
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
    pub events_applied: i64,
    pub last_error: Option<String>,
    /// The event it stopped at, when `failed`.
    pub failed_event_id: Option<Uuid>,
    pub failed_position: Option<i64>,
    /// How far a running rebuild got (global position), when `rebuilding`.
    pub rebuild_position: Option<i64>,
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

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn connect_options(&self) -> &PgConnectOptions {
        &self.connect_options
    }

    pub async fn status(&self) -> Result<ProjectorStatus, sqlx::Error> {
        let checkpoint = load_checkpoint(&self.pool, self.name()).await?;
        let head = reader::head_position(&self.pool).await?;
        let lag = reader::count_after(&self.pool, checkpoint.cursor).await?;
        // What the database says (failed, rebuilding) holds in every process; the rest
        // is this process's own view (running here, or standing by).
        let state = if checkpoint.failed_event_id.is_some() {
            ProjectorState::Failed
        } else if checkpoint.rebuilding && lock_held(&self.pool, &format!("rebuild:{}", self.name())).await? {
            ProjectorState::Rebuilding
        } else {
            let local = *self.state.borrow();
            match local {
                // An operator cleared the failure; the projector has not noticed yet.
                ProjectorState::Failed => ProjectorState::Running,
                // This process does not run it: is another one?
                ProjectorState::Starting if !self.is_led_elsewhere().await? => ProjectorState::Stopped,
                ProjectorState::Starting => ProjectorState::Running,
                state => state,
            }
        };
        Ok(ProjectorStatus {
            name: self.name(),
            state,
            checkpoint: checkpoint.cursor.position,
            head,
            lag,
            events_applied: checkpoint.events_applied,
            last_error: checkpoint.last_error.or_else(|| self.last_error.borrow().clone()),
            failed_event_id: checkpoint.failed_event_id,
            failed_position: checkpoint.failed_position,
            rebuild_position: checkpoint.rebuild_position,
        })
    }

    /// Whether some process holds this projector's leadership lock.
    async fn is_led_elsewhere(&self) -> Result<bool, sqlx::Error> {
        lock_held(&self.pool, &format!("projector:{}", self.name())).await
    }

    /// Waits until the projector has applied the event at `position`, for at most
    /// `timeout`. `Ok(false)` on timeout. A position that names no event (a gap left by
    /// a rolled-back transaction) counts as applied once the log has moved past it.
    pub async fn wait_until_applied(&self, position: i64, timeout: Duration) -> Result<bool, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut applied = self.applied.clone();
        loop {
            let covered: Option<bool> = sqlx::query_scalar(include_str!("../sql/applied.sql"))
                .bind(self.name())
                .bind(position)
                .fetch_optional(&self.pool)
                .await?;
            if covered.unwrap_or(true) {
                return Ok(true);
            }
            // Woken at once by a batch applied here; polled when another process leads.
            let wake = tokio::time::timeout(Duration::from_millis(20), applied.changed());
            if tokio::time::timeout_at(deadline, wake).await.is_err() {
                return Ok(false);
            }
        }
    }

    /// Clears a failure: the projector tries its event again.
    pub async fn retry(&self) -> Result<Intervention, sqlx::Error> {
        let row = sqlx::query(include_str!("../sql/checkpoint_retry.sql"))
            .bind(self.name())
            .fetch_optional(&self.pool)
            .await?;
        self.wake_readers().await?;
        Ok(if row.is_some() {
            Intervention::Done
        } else {
            Intervention::NotFailed
        })
    }

    /// Skips the event the projector failed on (recorded in `skipped_event_ids`).
    pub async fn skip(&self) -> Result<Intervention, sqlx::Error> {
        let row = sqlx::query(include_str!("../sql/checkpoint_skip.sql"))
            .bind(self.name())
            .fetch_optional(&self.pool)
            .await?;
        if let Some(row) = &row {
            let event_id: Uuid = row.try_get("event_id")?;
            tracing::warn!(projector = self.name(), %event_id, "event skipped by an operator");
        }
        self.wake_readers().await?;
        Ok(if row.is_some() {
            Intervention::Done
        } else {
            Intervention::NotFailed
        })
    }

    async fn wake_readers(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(reader::APPENDED_CHANNEL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
