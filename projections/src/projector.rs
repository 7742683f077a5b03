//! [`Projector`]: the background task that keeps one read model up to date.
//!
//! The same task runs on both backends; only leadership differs:
//!
//! - **Leadership**: on Postgres, one active instance per projector across processes,
//!   by a session advisory lock held on a dedicated connection. Others stand by and
//!   retry; when the leader's process dies its connection closes, the lock is released
//!   and a standby takes over. On SQLite (one file, normally one process) a projector
//!   always leads in its process; it renews a lease in its checkpoint row so that a
//!   process that runs no projector (the CLI) can tell whether one runs.
//! - **Exactly once**: a batch's effects and the checkpoint move in one transaction,
//!   which starts by reading the checkpoint under a lock (Postgres: `FOR UPDATE`;
//!   SQLite: the write transaction holds the database's write lock) and checking it is
//!   where the batch was read from: a fence against a stale leader (or a second process
//!   on the same SQLite file) and a rebuild's swap.
//! - **Commit order**: the log is read with [`store::reader::read_after`], which never
//!   skips an event whose transaction commits late.
//! - **Wake-up**: [`store::reader::LogWaker`] after commits (Postgres: LISTEN/NOTIFY;
//!   SQLite: in-process), with polling as a fallback.
//! - **Poison events**: an event that cannot be applied is retried with backoff, then
//!   the projector stops at it, records it and reports `failed`; an operator retries
//!   or skips it ([`ProjectorHandle::retry`], [`ProjectorHandle::skip`]).

use crate::backend::WriteTransaction;
use crate::checkpoint;
use crate::projection::{ApplyError, Projection, Tables};
use sqlx::postgres::{PgDatabaseError, PgPool};
use sqlx::sqlite::SqliteError;
use sqlx::{Connection, PgConnection};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::reader::{self, LogCursor, LogWaker, RecordedEvent};
use store::Database;
use tokio::sync::watch;
use uuid::Uuid;

pub use crate::checkpoint::Checkpoint;

/// SQLite: how many periods a running projector's lease lasts, a period being the
/// longer of [`ProjectorSettings::leadership_check`] and
/// [`ProjectorSettings::poll_interval`] (an idle projector looks at its lease once per
/// poll). It is renewed when half of it is left, so an idle projector writes about
/// once every five periods, and a process that died stops being reported as running
/// within ten.
const LEASE_PERIODS: u32 = 10;

const LEADER_RENEW: &str = include_str!("../sql/sqlite/leader_renew.sql");
const LEADER_ALIVE: &str = include_str!("../sql/sqlite/leader_alive.sql");
const LOCK_HELD: &str = include_str!("../sql/postgres/lock_held.sql");

/// How soon to look again when committed events are held back by an older
/// transaction that is still running: at the next commit's notification, or after
/// this, doubling up to [`HELD_BACK_MAX`] while it lasts. (Rereading every
/// millisecond regardless halved command throughput under load.)
const HELD_BACK_RECHECK: Duration = Duration::from_millis(1);
const HELD_BACK_MAX: Duration = Duration::from_millis(4);

/// The smallest batch after which a projector under sustained load lingers
/// ([`ProjectorSettings::batch_linger`]): smaller batches mean commands arrive slowly
/// enough that waiting would only add lag (at 200 commands/s, a batch holds the
/// events of one or two commands).
const LINGER_AFTER_EVENTS: usize = 16;

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
    /// batch held at least 16), how long
    /// to wait before the next read when a batch did not fill up, so that it gathers
    /// more events: fewer and larger transactions, each with a fixed cost of about
    /// eight statements (measured: 13% less machine CPU per command at 8 clients with
    /// 3 ms). It adds at most this to the views' lag under load; after a quiet moment
    /// the first batch is read at once (Kafka's `linger.ms`, for the same reason).
    pub batch_linger: Duration,
    /// How often the leader checks that it still holds its lock, and a standby tries
    /// to take it (Postgres). On SQLite, with `poll_interval`, the period of the lease
    /// a running projector renews (it lasts ten of the longer of the two).
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

/// What a projector is doing, as seen from this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectorState {
    /// Not yet connected.
    Starting,
    /// Applying events: this process holds the projector's lock (on SQLite: runs it).
    /// Seen from a process that does not run it: another process does.
    Running,
    /// Another process holds the lock; this one takes over if it dies (Postgres only).
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

/// A projector, ready to [`run`](Projector::run).
pub struct Projector {
    projection: Arc<dyn Projection>,
    db: Database,
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
    db: Database,
    state: watch::Receiver<ProjectorState>,
    last_error: watch::Receiver<Option<String>>,
    applied: watch::Receiver<LogCursor>,
}

/// This process's leadership of a projector, while it follows the log.
enum Leader {
    /// A dedicated connection holding the projector's session advisory lock.
    Postgres(PgConnection),
    /// SQLite: always leader in its process; when its lease was last renewed.
    Sqlite { renewed: Option<Instant> },
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
    /// A projector of `projection` over `db`, and its handle. On Postgres, the
    /// dedicated connection that holds the leadership lock is opened with the pool's
    /// connect options (a pooled one would be returned to the pool, and the lock with it).
    pub fn new(
        projection: Arc<dyn Projection>,
        db: Database,
        waker: LogWaker,
        settings: ProjectorSettings,
    ) -> (Self, ProjectorHandle) {
        let (state, state_rx) = watch::channel(ProjectorState::Starting);
        let (last_error, last_error_rx) = watch::channel(None);
        let (applied, applied_rx) = watch::channel(LogCursor::START);
        let handle = ProjectorHandle {
            projection: projection.clone(),
            db: db.clone(),
            state: state_rx,
            last_error: last_error_rx,
            applied: applied_rx,
        };
        (
            Self {
                projection,
                db,
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

    /// This process's leadership of the projector, or `None` when another process
    /// has it (Postgres only: on SQLite a projector always leads in its process).
    async fn take_leadership(&self) -> Result<Option<Leader>, sqlx::Error> {
        match &self.db {
            Database::Postgres(pool) => {
                let mut connection = PgConnection::connect_with(&pool.connect_options()).await?;
                let locked: bool =
                    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('projector:' || $1))")
                        .bind(self.name())
                        .fetch_one(&mut connection)
                        .await?;
                Ok(locked.then_some(Leader::Postgres(connection)))
            }
            Database::Sqlite(_) => Ok(Some(Leader::Sqlite { renewed: None })),
        }
    }

    /// Checks that this process still leads: on Postgres, that the connection holding
    /// the lock is alive; on SQLite, renews the lease when half of it has gone by.
    async fn keep_leadership(&self, leader: &mut Leader) -> Result<(), Interrupted> {
        match leader {
            Leader::Postgres(connection) => connection.ping().await.map_err(|_| Interrupted::LostLeadership),
            Leader::Sqlite { renewed } => {
                let lease = self.settings.leadership_check.max(self.settings.poll_interval) * LEASE_PERIODS;
                if renewed.is_some_and(|at| at.elapsed() < lease / 2) {
                    return Ok(());
                }
                let Database::Sqlite(sqlite) = &self.db else {
                    unreachable!("a SQLite leader over another backend")
                };
                let mut tx = sqlite.begin_write().await?;
                sqlx::query(LEADER_RENEW)
                    .bind(self.name())
                    .bind(date_modifier(lease))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                *renewed = Some(Instant::now());
                Ok(())
            }
        }
    }

    /// Applies the log until interrupted (it never returns otherwise).
    async fn follow_log(&self, mut leader: Leader) -> Result<Infallible, Interrupted> {
        checkpoint::ensure(&self.db, self.name()).await?;
        crate::rebuild::clear_stale_rebuild(&self.db, self.name()).await?;
        self.keep_leadership(&mut leader).await?;
        let mut waker = self.waker.clone();
        let mut checkpoint = checkpoint::load(&self.db, self.name()).await?;
        let mut last_leadership_check = Instant::now();
        let mut poison_attempts = 0;
        // Applying one event per batch, to find the event behind a data error.
        let mut isolating = false;
        let mut held_back = HELD_BACK_RECHECK;
        // Whether the last read found events right after a batch was applied: commands
        // keep coming (see `ProjectorSettings::batch_linger`).
        let mut sustained = false;
        self.last_error.send_replace(None);
        loop {
            if last_leadership_check.elapsed() >= self.settings.leadership_check {
                self.keep_leadership(&mut leader).await?;
                last_leadership_check = Instant::now();
            }
            if checkpoint.failed_event_id.is_some() {
                // Stopped at a poison event until an operator acts (any process can).
                self.state.send_replace(ProjectorState::Failed);
                waker.wait(self.settings.poll_interval).await;
                checkpoint = checkpoint::load(&self.db, self.name()).await?;
                continue;
            }
            self.state.send_replace(ProjectorState::Running);
            self.applied.send_replace(checkpoint.cursor);

            let limit = if isolating { 1 } else { self.settings.batch_size };
            let events = reader::read_after(&self.db, checkpoint.cursor, limit).await?;
            if events.is_empty() {
                sustained = false;
                if reader::any_after(&self.db, checkpoint.cursor).await? {
                    // Committed events exist but an older transaction is still running
                    // (anywhere on the server: the horizon is cluster-wide), so they are
                    // not safe to read yet. Its end notifies nobody (unless it appended
                    // events): look again at the next notification or soon after.
                    // (Postgres only: SQLite commits in position order, so every event
                    // it has committed is readable.)
                    waker.wait(held_back).await;
                    held_back = (held_back * 2).min(HELD_BACK_MAX);
                } else {
                    waker.wait(self.settings.poll_interval).await;
                }
                continue;
            }
            held_back = HELD_BACK_RECHECK;
            match apply_batch(
                &self.db,
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
                    // Readers waiting for their writes learn of the batch now, not
                    // after the linger.
                    self.applied.send_replace(checkpoint.cursor);
                    // Under sustained load, let the next batch gather more events.
                    let gathering = events.len() >= LINGER_AFTER_EVENTS && (events.len() as i64) < limit;
                    if sustained && gathering {
                        tokio::time::sleep(self.settings.batch_linger).await;
                    }
                    sustained = true;
                }
                Ok(Batch::Isolate(error)) => {
                    tracing::warn!(%error, "the database refused a batch; applying its events one by one");
                    isolating = true;
                }
                Ok(Batch::Fenced) => checkpoint = checkpoint::load(&self.db, self.name()).await?,
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
                            checkpoint::record_failure(
                                &self.db,
                                self.name(),
                                checkpoint.cursor,
                                event,
                                &reason,
                            )
                            .await?;
                            checkpoint = checkpoint::load(&self.db, self.name()).await?;
                            poison_attempts = 0;
                        }
                    }
                }
                Ok(Batch::Poisoned { index, .. }) => {
                    // Apply what precedes the poison event; the next round starts at it.
                    match apply_batch(
                        &self.db,
                        &*self.projection,
                        Tables::Live,
                        checkpoint.cursor,
                        &events[..index],
                    )
                    .await?
                    {
                        Batch::Applied(cursor) => checkpoint.cursor = cursor,
                        Batch::Isolate(_) => isolating = true,
                        _ => checkpoint = checkpoint::load(&self.db, self.name()).await?,
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
/// Postgres: SQLSTATE classes 22 (data exception) and 23 (integrity constraint).
/// SQLite: SQLITE_CONSTRAINT (a NOT NULL, CHECK, unique or STRICT type violation),
/// SQLITE_MISMATCH and SQLITE_TOOBIG, whatever the extended code.
pub(crate) fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            if let Some(postgres) = db.try_downcast_ref::<PgDatabaseError>() {
                let code = postgres.code();
                code.starts_with("22") || code.starts_with("23")
            } else if db.try_downcast_ref::<SqliteError>().is_some() {
                const TOOBIG: i32 = 18;
                const CONSTRAINT: i32 = 19;
                const MISMATCH: i32 = 20;
                db.code()
                    .and_then(|code| code.parse::<i32>().ok())
                    .is_some_and(|code| matches!(code & 0xff, TOOBIG | CONSTRAINT | MISMATCH))
            } else {
                false
            }
        }
        sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => true,
        _ => false,
    }
}

/// Applies `events` (read after `from`) and advances the checkpoint, in one
/// transaction, which first checks that the checkpoint is still at `from`.
pub(crate) async fn apply_batch(
    db: &Database,
    projection: &dyn Projection,
    tables: Tables,
    from: LogCursor,
    events: &[RecordedEvent],
) -> Result<Batch, sqlx::Error> {
    let Some(last) = events.last() else {
        return Ok(Batch::Applied(from));
    };
    let mut tx = WriteTransaction::begin(db).await?;
    if checkpoint::locked_cursor(tx.connection(), projection.name()).await? != Some(from) {
        return Ok(Batch::Fenced);
    }
    match projection.apply(tx.connection(), tables, events).await {
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
    checkpoint::advance(tx.connection(), projection.name(), last.cursor, events.len()).await?;
    tx.commit().await?;
    Ok(Batch::Applied(last.cursor))
}

/// Whether some session holds the advisory lock named `key` (see
/// `sql/postgres/lock_held.sql`).
pub(crate) async fn lock_held(pool: &PgPool, key: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(LOCK_HELD).bind(key).fetch_one(pool).await
}

/// A SQLite date modifier that adds `duration` (`'+1.500 seconds'`).
pub(crate) fn date_modifier(duration: Duration) -> String {
    format!("+{:.3} seconds", duration.as_secs_f64())
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

    /// The database the projector reads and writes.
    pub fn database(&self) -> &Database {
        &self.db
    }

    pub async fn status(&self) -> Result<ProjectorStatus, sqlx::Error> {
        let checkpoint = checkpoint::load(&self.db, self.name()).await?;
        let head = reader::head_position(&self.db).await?;
        let lag = reader::count_after(&self.db, checkpoint.cursor).await?;
        // What the database says (failed, rebuilding) holds in every process; the rest
        // is this process's own view (running here, or standing by).
        let state = if checkpoint.failed_event_id.is_some() {
            ProjectorState::Failed
        } else if checkpoint.rebuilding && crate::rebuild::is_running(&self.db, self.name()).await? {
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

    /// Whether some process runs this projector: on Postgres, holds its leadership
    /// lock; on SQLite, holds an unexpired lease on it.
    async fn is_led_elsewhere(&self) -> Result<bool, sqlx::Error> {
        match &self.db {
            Database::Postgres(pool) => lock_held(pool, &format!("projector:{}", self.name())).await,
            Database::Sqlite(sqlite) => Ok(sqlx::query_scalar::<_, bool>(LEADER_ALIVE)
                .bind(self.name())
                .fetch_optional(sqlite.pool())
                .await?
                .unwrap_or(false)),
        }
    }

    /// Waits until the projector has applied the event at `position`, for at most
    /// `timeout`. `Ok(false)` on timeout. A position that names no event (a gap left by
    /// a rolled-back transaction) counts as applied once the log has moved past it.
    pub async fn wait_until_applied(&self, position: i64, timeout: Duration) -> Result<bool, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut applied = self.applied.clone();
        loop {
            let covered = checkpoint::applied(&self.db, self.name(), position).await?;
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
                if applied.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let _ = tokio::time::timeout_at(deadline.min(now + Duration::from_millis(20)), wake).await;
        }
    }

    /// Clears a failure: the projector tries its event again.
    pub async fn retry(&self) -> Result<Intervention, sqlx::Error> {
        let retried = checkpoint::retry(&self.db, self.name()).await?;
        self.wake_readers().await?;
        Ok(if retried {
            Intervention::Done
        } else {
            Intervention::NotFailed
        })
    }

    /// Skips the event the projector failed on (recorded in `skipped_event_ids`).
    pub async fn skip(&self) -> Result<Intervention, sqlx::Error> {
        let skipped = checkpoint::skip(&self.db, self.name()).await?;
        if let Some(event_id) = skipped {
            tracing::warn!(projector = self.name(), %event_id, "event skipped by an operator");
        }
        self.wake_readers().await?;
        Ok(if skipped.is_some() {
            Intervention::Done
        } else {
            Intervention::NotFailed
        })
    }

    /// Wakes the projector (in whichever process runs it, on Postgres; in this one,
    /// on SQLite, where other processes notice within their poll interval).
    async fn wake_readers(&self) -> Result<(), sqlx::Error> {
        match &self.db {
            Database::Postgres(pool) => {
                sqlx::query("SELECT pg_notify($1, '')")
                    .bind(reader::APPENDED_CHANNEL)
                    .execute(pool)
                    .await?;
            }
            Database::Sqlite(sqlite) => sqlite.notify_appended(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::TestDb;

    /// The error of `bad`, run against a table `t (k text PRIMARY KEY, n integer NOT
    /// NULL)` holding `('a', 1)` (STRICT on SQLite, whose columns otherwise take any
    /// type, as the read models' tables are).
    async fn error_of(db: &Database, bad: &str) -> sqlx::Error {
        let create = "CREATE TABLE t (k text PRIMARY KEY, n integer NOT NULL)";
        match db {
            Database::Postgres(pool) => {
                sqlx::query(create).execute(pool).await.unwrap();
                sqlx::query("INSERT INTO t VALUES ('a', 1)")
                    .execute(pool)
                    .await
                    .unwrap();
                sqlx::query(bad).execute(pool).await.unwrap_err()
            }
            Database::Sqlite(sqlite) => {
                let mut tx = sqlite.begin_write().await.unwrap();
                sqlx::query(&format!("{create} STRICT"))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query("INSERT INTO t VALUES ('a', 1)")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query(bad).execute(&mut *tx).await.unwrap_err()
            }
        }
    }

    async fn data_errors_are_told_from_other_errors(backend: store::Backend) {
        for (statement, data) in [
            ("INSERT INTO t VALUES ('a', 2)", true),
            ("INSERT INTO t VALUES ('b', NULL)", true),
            ("INSERT INTO t VALUES ('b', 'not a number')", true),
            ("INSERT INTO nowhere VALUES (1)", false),
            ("SELEKT 1", false),
        ] {
            let test = TestDb::of(backend).await;
            let error = error_of(&test.db, statement).await;
            assert_eq!(is_data_error(&error), data, "{backend} {statement}: {error}");
        }
        assert!(!is_data_error(&sqlx::Error::PoolTimedOut));
    }

    #[tokio::test]
    async fn data_errors_are_told_from_other_errors_on_postgres() {
        data_errors_are_told_from_other_errors(store::Backend::Postgres).await
    }

    #[tokio::test]
    async fn data_errors_are_told_from_other_errors_on_sqlite() {
        data_errors_are_told_from_other_errors(store::Backend::Sqlite).await
    }

    #[test]
    fn sqlite_date_modifiers_have_millisecond_precision() {
        assert_eq!(date_modifier(Duration::from_millis(1500)), "+1.500 seconds");
        assert_eq!(date_modifier(Duration::from_secs(30)), "+30.000 seconds");
    }
}
