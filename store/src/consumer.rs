//! [`LogConsumer`]: the one runtime that follows the log for every consumer of it
//! (the projectors, the outbox relay). A consumer is a [`LogHandler`] ("handle this
//! batch"); the runtime owns everything around it, written once:
//!
//! - **Leadership**: one active instance per consumer across processes, by a
//!   [`Lease`] on `<kind>:<name>` (`projector:campaigns`, `relay:pulsar`); the others
//!   stand by and take over when the leader's lease goes (its process died, its
//!   connection broke, it stopped).
//! - **The commit-order tail**: reads after the handler's checkpoint with
//!   [`Database::read_after`], which never skips an event whose transaction commits
//!   late; sleeps until a [`LogWaker`] wake-up (or the poll interval) when caught up,
//!   and looks again within milliseconds when committed events are held back by an
//!   older transaction still running. Under sustained load it lingers before reading
//!   a batch that would not fill up, so batches grow (fewer transactions).
//! - **Backoff**: database or broker trouble ends the session; the runtime waits
//!   ([`Backoff`], reset by progress) and resumes from the checkpoint.
//! - **Poison events**: an event the handler cannot handle is retried with the
//!   configured delays; then the consumer stops at it ([`LogHandler::stop_at`]
//!   records it) and reports `failed` until an operator retries or skips it (which
//!   clears what [`LogHandler::resume`] reports). When the database refuses a batch's
//!   data without saying which event is at fault, the runtime finds it by handling
//!   the batch one event at a time.
//!
//! The handler owns its checkpoint (where it resumes, and moving it with its
//! effects: in the same transaction for an exactly-once view, behind the broker's
//! receipts for the relay), because only it knows what "handled" means.

use crate::backoff::Backoff;
use crate::database::Database;
use crate::error::DbFault;
use crate::lease::{Lease, LeaseError};
use crate::reader::{LogCursor, LogWaker, RecordedEvent};
use async_trait::async_trait;
use observability::metrics::PROJECTOR_POISON_EVENTS;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

/// How soon to look again when committed events are held back by an older
/// transaction that is still running: at the next commit's notification, or after
/// this, doubling up to [`HELD_BACK_MAX`] while it lasts. (Rereading every
/// millisecond regardless halved command throughput under load.)
const HELD_BACK_RECHECK: Duration = Duration::from_millis(1);
/// Not more: the transaction that holds events back ends without notifying anyone, and
/// readers waiting for their writes wait for the recheck after it (a longer cap, tried,
/// made them miss their consistency timeout after a long transaction).
const HELD_BACK_MAX: Duration = Duration::from_millis(4);

/// The smallest batch after which a consumer under sustained load lingers
/// ([`ConsumerSettings::batch_linger`]): smaller batches mean events arrive slowly
/// enough that waiting would only add lag (at 200 commands/s, a batch holds the
/// events of one or two commands).
const LINGER_AFTER_EVENTS: usize = 16;

/// Tuning of a consumer.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Events read and handled per batch.
    pub batch_size: i64,
    /// How long to wait for a wake-up before polling the log anyway.
    pub poll_interval: Duration,
    /// Under sustained load (the read right after a batch found more events, and the
    /// batch held at least 16), how long to wait before the next read when a batch did
    /// not fill up, so that it gathers more events: fewer and larger transactions
    /// (Kafka's `linger.ms`, for the same reason). Zero: never.
    pub batch_linger: Duration,
    /// How often the leader renews its lease.
    pub lease_check: Duration,
    /// How often a standby tries to take the lease.
    pub standby_retry: Duration,
    /// How long a lease lasts without renewal, where leases expire (SQLite): a leader
    /// that died is replaced after at most this.
    pub lease_duration: Duration,
    /// Delays between the attempts at an event that cannot be handled, before the
    /// consumer stops at it.
    pub poison_retry_delays: Vec<Duration>,
    /// Waits after a failure: the first, doubling up to the second.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Reads the next batch while the handler handles a full one (a backlog): for a
    /// handler that mostly waits (the relay, for the broker's receipts), so that reading
    /// the log overlaps with it. Not with `batch_linger`, which wants the next read late.
    pub read_ahead: bool,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll_interval: Duration::from_secs(1),
            batch_linger: Duration::ZERO,
            lease_check: Duration::from_secs(1),
            standby_retry: Duration::from_secs(1),
            lease_duration: Duration::from_secs(10),
            poison_retry_delays: vec![
                Duration::from_millis(100),
                Duration::from_millis(500),
                Duration::from_secs(2),
            ],
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            read_ahead: false,
        }
    }
}

/// Where a consumer resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// The last event handled (for good).
    pub cursor: LogCursor,
    /// Stopped at a poison event, waiting for an operator.
    pub failed: bool,
}

/// Why a batch was not handled.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The event at `index` of the batch cannot be handled (undecodable payload,
    /// unknown version, an event for a view that does not exist): retrying will not
    /// help, an operator must look at it. Nothing of the batch was handled.
    #[error("event {index} of the batch cannot be handled: {reason}")]
    Poison { index: usize, reason: String },
    /// The database refused the data of an event of the batch, without saying which
    /// one. Nothing was written.
    #[error("the database refused the batch: {0}")]
    Refused(String),
    /// The checkpoint was not where the batch was read from: someone else moved it
    /// (a rebuild's swap, another leader, an operator). Nothing was written.
    #[error("the checkpoint moved")]
    Fenced,
    /// Database or broker trouble: back off and resume from the checkpoint.
    #[error("{0}")]
    Transient(String),
}

impl From<sqlx::Error> for HandleError {
    /// The database refusing the data is the batch's fault; anything else is the
    /// database's, and passes.
    fn from(error: sqlx::Error) -> Self {
        if DbFault::of(&error).is_the_datas() {
            HandleError::Refused(error.to_string())
        } else {
            HandleError::Transient(format!("database: {error}"))
        }
    }
}

/// How far a handled batch is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Its effects are done for good (a view's transaction committed).
    Confirmed,
    /// Sent on, to be confirmed later (the relay: the broker's receipts), in a later
    /// `handle` or in [`LogHandler::caught_up`]. The runtime's backoff is reset only by
    /// confirmed progress, so a handler whose confirmations keep failing backs off.
    Pending,
}

/// What a consumer does with the log; the runtime does the rest (see the module doc).
#[async_trait]
pub trait LogHandler: Send + 'static {
    /// Where to resume: the handler's checkpoint. Called when a session starts, after
    /// a [`HandleError::Fenced`], and while stopped at a poison event.
    async fn resume(&mut self) -> Result<Resume, HandleError>;

    /// Handles `events`, read after `from`, in commit order, and moves the checkpoint
    /// over them (or will, for a handler whose effects are confirmed later).
    async fn handle(&mut self, from: LogCursor, events: &[RecordedEvent]) -> Result<Handled, HandleError>;

    /// The log has nothing more for now: a chance to settle what is pending (once it
    /// returns, everything handled is confirmed).
    async fn caught_up(&mut self) -> Result<(), HandleError> {
        Ok(())
    }

    /// The consumer stops at `event` (read after `at`), which it could not handle for
    /// `reason`: records it where an operator sees it; [`LogHandler::resume`] then
    /// reports `failed` until the operator retries or skips it.
    async fn stop_at(
        &mut self,
        at: LogCursor,
        event: &RecordedEvent,
        reason: &str,
    ) -> Result<(), HandleError>;

    /// The session ended: after a failure, a lost lease or a stop (`stopping`).
    /// Settles or drops what is pending.
    async fn end_session(&mut self, _stopping: bool) {}
}

/// What a consumer is doing, as seen from this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerState {
    /// Not yet connected.
    Starting,
    /// This process leads it and follows the log.
    Running,
    /// Another process leads it; this one takes over if that one goes.
    Standby,
    /// Waiting after database or broker trouble.
    BackingOff,
    /// Stopped at an event it could not handle, until an operator retries or skips it.
    Failed,
    /// Stopped for good (a graceful stop).
    Stopped,
}

/// What the runtime tells about a consumer.
#[derive(Debug, Clone)]
pub struct ConsumerStatus {
    pub state: ConsumerState,
    /// The last trouble this process met, and when (kept after recovery).
    pub last_error: Option<String>,
    pub last_error_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The cursor after the last batch handled here (read-your-writes waiters watch it).
    pub handled: LogCursor,
}

/// A consumer, ready to [`spawn`](LogConsumer::spawn) or [`run`](LogConsumer::run).
pub struct LogConsumer<H: LogHandler> {
    /// The consumer's lease: `<kind>:<name>`.
    lease_key: String,
    db: Database,
    waker: LogWaker,
    settings: ConsumerSettings,
    handler: H,
    /// This instance's id in a lease.
    holder: String,
    status: watch::Sender<ConsumerStatus>,
    stop: watch::Receiver<bool>,
    stop_sender: Option<watch::Sender<bool>>,
    /// Counts the events it stopped at (a projector's in
    /// `alpes_projector_poison_events_total`; the relay's stall shows in its state).
    poison_events: metrics::Counter,
}

/// Why a session ended.
enum Interrupted {
    Stop,
    LostLease(String),
    Failed(String),
}

impl<H: LogHandler> LogConsumer<H> {
    /// A consumer of a `kind` (`projector`, `relay`) named `name`: its lease is
    /// [`Lease::key`]`(kind, name)`.
    pub fn new(
        kind: &str,
        name: &str,
        db: Database,
        waker: LogWaker,
        settings: ConsumerSettings,
        handler: H,
    ) -> Self {
        let (status, _) = watch::channel(ConsumerStatus {
            state: ConsumerState::Starting,
            last_error: None,
            last_error_at: None,
            handled: LogCursor::START,
        });
        let (stop_sender, stop) = watch::channel(false);
        let poison_events = match kind {
            "projector" => metrics::counter!(PROJECTOR_POISON_EVENTS, "projector" => name.to_owned()),
            _ => metrics::Counter::noop(),
        };
        Self {
            lease_key: Lease::key(kind, name),
            db,
            waker,
            settings,
            handler,
            holder: uuid::Uuid::now_v7().to_string(),
            status,
            stop,
            stop_sender: Some(stop_sender),
            poison_events,
        }
    }

    /// The consumer's status, as this process sees it.
    pub fn status(&self) -> watch::Receiver<ConsumerStatus> {
        self.status.subscribe()
    }

    /// Starts it in the background.
    pub fn spawn(mut self) -> ConsumerTask {
        let stop = self.stop_sender.take().expect("a new consumer has its stop");
        let span = tracing::info_span!("consumer", consumer = %self.lease_key);
        ConsumerTask {
            stop,
            join: tokio::spawn(self.run().instrument(span)),
        }
    }

    /// Runs until stopped: stands by until it holds the lease, then follows the log.
    pub async fn run(mut self) {
        let mut backoff = Backoff::new(self.settings.min_backoff, self.settings.max_backoff);
        while !self.stopping() {
            let acquired = Lease::try_acquire(
                &self.db,
                &self.lease_key,
                &self.holder,
                self.settings.lease_duration,
            )
            .await;
            let mut lease = match acquired {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    self.set_state(ConsumerState::Standby);
                    self.pause(self.settings.standby_retry).await;
                    continue;
                }
                Err(error) => {
                    self.report_error(&format!("cannot reach the database: {error}"));
                    self.pause(backoff.next_delay()).await;
                    continue;
                }
            };
            tracing::info!("leading");
            let outcome = self.follow(&mut lease, &mut backoff).await;
            self.handler
                .end_session(matches!(outcome, Interrupted::Stop))
                .await;
            match outcome {
                Interrupted::Stop => {
                    lease.release().await;
                    break;
                }
                Interrupted::LostLease(error) => {
                    tracing::warn!(%error, "lost the lease");
                    self.report_error(&error);
                }
                Interrupted::Failed(error) => {
                    tracing::warn!(%error, "failed; backing off");
                    self.report_error(&error);
                    lease.release().await;
                    self.pause(backoff.next_delay()).await;
                }
            }
        }
        self.set_state(ConsumerState::Stopped);
    }

    /// Follows the log while this process holds the lease.
    async fn follow(&mut self, lease: &mut Lease, backoff: &mut Backoff) -> Interrupted {
        let mut resume = match self.handler.resume().await {
            Ok(resume) => resume,
            Err(error) => return Interrupted::Failed(error.to_string()),
        };
        let mut cursor = resume.cursor;
        let mut last_lease_check = Instant::now();
        let mut lease_renewed = Instant::now();
        let mut held_back = HELD_BACK_RECHECK;
        // At most this many events in the next read: 1 while looking for the event
        // the database refused, the events before a poison one to handle them alone.
        let mut next_limit: Option<i64> = None;
        let mut isolating = false;
        let mut poison_attempts = 0;
        // Whether the last read found events right after a batch was handled: events
        // keep coming (see `ConsumerSettings::batch_linger`).
        let mut sustained = false;
        // The batch after the one being handled, read meanwhile (`read_ahead`), with the
        // cursor and the limit it was read with.
        let mut read_ahead: Option<(LogCursor, i64, Vec<RecordedEvent>)> = None;
        // The last error stays: kept after recovery, so that it can still be read.
        self.status.send_modify(|status| status.handled = cursor);
        loop {
            if self.stopping() {
                return Interrupted::Stop;
            }
            if last_lease_check.elapsed() >= self.settings.lease_check {
                // A renewal may wait behind this process's writers (SQLite); one that
                // does not finish in time is tried again while the lease has not expired
                // (a third of it is kept as a margin), rather than given up at once.
                let renewal = self.settings.lease_duration / 3;
                match lease.renew(renewal.max(Duration::from_secs(1))).await {
                    Ok(()) => {
                        last_lease_check = Instant::now();
                        lease_renewed = Instant::now();
                    }
                    Err(LeaseError::Timeout(_)) if lease_renewed.elapsed() < renewal * 2 => {
                        tracing::debug!("the lease's renewal took too long; trying again");
                    }
                    Err(error) => return Interrupted::LostLease(error.to_string()),
                }
            }
            if resume.failed {
                self.set_state(ConsumerState::Failed);
                self.wait(self.settings.poll_interval).await;
                resume = match self.handler.resume().await {
                    Ok(resume) => resume,
                    Err(error) => return Interrupted::Failed(error.to_string()),
                };
                cursor = resume.cursor;
                continue;
            }
            self.set_state(ConsumerState::Running);

            let limit = if isolating {
                1
            } else {
                next_limit.take().unwrap_or(self.settings.batch_size)
            };
            let events = match read_ahead.take() {
                Some((from, read_limit, events)) if from == cursor && read_limit == limit => events,
                _ => match self.db.read_after(cursor, limit).await {
                    Ok(events) => events,
                    Err(error) => return Interrupted::Failed(format!("database: {error}")),
                },
            };
            if events.is_empty() {
                sustained = false;
                match self.db.any_after(cursor).await {
                    // Committed events exist but an older transaction is still running
                    // (anywhere on the server: the horizon is cluster-wide), so they are
                    // not safe to read yet. Its end notifies nobody (unless it appended
                    // events): look again at the next notification or soon after.
                    // (Postgres only: SQLite commits in position order.)
                    Ok(true) => {
                        self.wait(held_back).await;
                        held_back = (held_back * 2).min(HELD_BACK_MAX);
                    }
                    Ok(false) => {
                        let mut stop = self.stop.clone();
                        tokio::select! {
                            settled = self.handler.caught_up() => match settled {
                                Ok(()) => backoff.reset(),
                                Err(error) => return Interrupted::Failed(error.to_string()),
                            },
                            _ = stop_requested(&mut stop) => return Interrupted::Stop,
                        }
                        self.wait(self.settings.poll_interval).await;
                    }
                    Err(error) => return Interrupted::Failed(format!("database: {error}")),
                }
                continue;
            }
            held_back = HELD_BACK_RECHECK;
            // A stop does not wait for a batch that hangs (a broker that does not answer):
            // the batch is dropped (a view's transaction rolls back; the relay resends
            // from its checkpoint) and the handler settles what it can in `end_session`.
            let mut stop = self.stop.clone();
            // Only a full batch is read ahead of: a backlog to catch up on. Under live
            // traffic (small batches) the next read would mostly come back empty, one
            // more query per batch for nothing.
            let ahead = self.settings.read_ahead && events.len() as i64 >= limit;
            let handling = async {
                if ahead {
                    // Read after this batch while it is handled; if it is not handled
                    // after all, what was read is dropped (the cursor differs next time).
                    let next = events[events.len() - 1].cursor;
                    let (handled, ahead) = tokio::join!(
                        self.handler.handle(cursor, &events),
                        self.db.read_after(next, limit)
                    );
                    (handled, ahead.ok().map(|ahead| (next, limit, ahead)))
                } else {
                    (self.handler.handle(cursor, &events).await, None)
                }
            };
            let handled = tokio::select! {
                (handled, ahead) = handling => {
                    read_ahead = ahead;
                    handled
                }
                _ = stop_requested(&mut stop) => return Interrupted::Stop,
            };
            let poisoned = match handled {
                Ok(handled) => {
                    cursor = events[events.len() - 1].cursor;
                    poison_attempts = 0;
                    isolating = false;
                    if handled == Handled::Confirmed {
                        backoff.reset();
                    }
                    // Readers waiting for their writes learn of the batch now, not
                    // after the linger.
                    self.status.send_modify(|status| status.handled = cursor);
                    let gathering = events.len() >= LINGER_AFTER_EVENTS && (events.len() as i64) < limit;
                    if sustained && gathering && !self.settings.batch_linger.is_zero() {
                        tokio::time::sleep(self.settings.batch_linger).await;
                    }
                    sustained = true;
                    None
                }
                Err(HandleError::Refused(error)) if events.len() > 1 => {
                    tracing::warn!(%error, "the database refused a batch; handling its events one by one");
                    isolating = true;
                    None
                }
                Err(HandleError::Refused(error)) => Some(format!("the database refused its effect: {error}")),
                // Handle what precedes the poison event alone; the next round starts at it.
                Err(HandleError::Poison { index, .. }) if index > 0 => {
                    next_limit = Some(index as i64);
                    None
                }
                Err(HandleError::Poison { reason, .. }) => Some(reason),
                Err(HandleError::Fenced) => {
                    resume = match self.handler.resume().await {
                        Ok(resume) => resume,
                        Err(error) => return Interrupted::Failed(error.to_string()),
                    };
                    cursor = resume.cursor;
                    None
                }
                Err(HandleError::Transient(error)) => return Interrupted::Failed(error),
            };
            let Some(reason) = poisoned else { continue };
            let event = &events[0];
            if let Some(delay) = self.settings.poison_retry_delays.get(poison_attempts) {
                tracing::warn!(event_id = %event.event_id, %reason, attempt = poison_attempts + 1, "cannot handle event; retrying");
                poison_attempts += 1;
                self.pause(*delay).await;
                continue;
            }
            tracing::error!(event_id = %event.event_id, %reason, "cannot handle event; stopping at it");
            self.poison_events.increment(1);
            poison_attempts = 0;
            resume = match self.handler.stop_at(cursor, event, &reason).await {
                Ok(()) => match self.handler.resume().await {
                    Ok(resume) => resume,
                    Err(error) => return Interrupted::Failed(error.to_string()),
                },
                Err(error) => return Interrupted::Failed(error.to_string()),
            };
            cursor = resume.cursor;
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits up to `poll` for appended events; returns early on a stop.
    async fn wait(&mut self, poll: Duration) {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = self.waker.wait(poll) => {}
            _ = stop_requested(&mut stop) => {}
        }
    }

    /// Waits `delay`, or less if a stop is requested.
    async fn pause(&mut self, delay: Duration) {
        let _ = tokio::time::timeout(delay, stop_requested(&mut self.stop)).await;
    }

    fn set_state(&self, state: ConsumerState) {
        self.status.send_if_modified(|status| {
            let changed = status.state != state;
            status.state = state;
            changed
        });
    }

    fn report_error(&self, error: &str) {
        let now = chrono::Utc::now();
        self.status.send_modify(|status| {
            status.state = ConsumerState::BackingOff;
            status.last_error = Some(error.to_owned());
            status.last_error_at = Some(now);
        });
    }
}

/// Resolves once a stop is requested; never if nobody can request one any more.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A running consumer. Dropping it leaves the consumer running (detached).
pub struct ConsumerTask {
    stop: watch::Sender<bool>,
    join: tokio::task::JoinHandle<()>,
}

impl ConsumerTask {
    /// A task that stops when `stop` says `true` (another runtime of this crate: the
    /// command queue's worker).
    pub(crate) fn new(stop: watch::Sender<bool>, join: tokio::task::JoinHandle<()>) -> Self {
        ConsumerTask { stop, join }
    }

    /// Stops gracefully: the handler settles what is pending, the lease is released.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = self.join.await;
    }

    /// A handle that stops the consumer at once, as [`ConsumerTask::abort`] does, from
    /// synchronous code (an owner's `Drop`).
    pub fn abort_handle(&self) -> tokio::task::AbortHandle {
        self.join.abort_handle()
    }

    /// Stops at once, as a crash would: nothing is settled, the lease goes with its
    /// connection (Postgres) or expires (SQLite).
    pub async fn abort(self) {
        self.join.abort();
        let _ = self.join.await;
    }
}
