//! [`Relay`]: tails the event log in commit order and publishes every event through a
//! [`Transport`], moving its checkpoint only behind the transport's receipts.
//!
//! The event log itself is the outbox: an event is in the log if and only if its command
//! committed, and the relay reads the log in commit-safe order ([`store::reader`]), so every
//! committed event is published and nothing else is.
//!
//! How one run goes:
//! 1. Take the relay's lock ([`RelayLock`]: an advisory lock on Postgres, a lease row on
//!    SQLite); while another relay holds it, stand by.
//! 2. Load the checkpoint, connect the transport.
//! 3. Pump: a reader task (`tail`) reads and encodes the events after the
//!    checkpoint; the pump sends each without waiting (up to `max_in_flight` unreceipted)
//!    and awaits the receipts in send order. The acknowledged cursor is the last event
//!    whose receipt, and every earlier one's, arrived; it is saved now and then
//!    (`checkpoint_interval`) and whenever the relay goes idle.
//! 4. On any failure (broker, database, lost lock): save what was acknowledged, close the
//!    publisher, back off, and start again from the saved checkpoint. Events sent but not
//!    acknowledged are sent again: at-least-once, with the event id for consumers to
//!    deduplicate.
//!
//! Order per aggregate holds because one relay reads in commit order (an aggregate's events
//! commit in sequence order), sends in that order on one producer per topic, and a restart
//! resends from the checkpoint, never skipping ahead.
//!
//! The relay runs on either storage backend ([`Database`]): only the checkpoint and lock
//! statements differ (`bus/sql/postgres/`, `bus/sql/sqlite/`); reading the log in commit
//! order is [`store::reader`]'s business on both.

use cqrs_es::persist::EventUpcaster;
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use store::reader::{self, LogCursor, LogWaker};
use store::Database;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::checkpoint;
use crate::lock::RelayLock;
use crate::message::OutgoingMessage;
use crate::status::{RelayProgress, RelayState, RelayStatus};
use crate::tail::{Tail, Tailed};
use crate::transport::{PublishError, Publisher, Receipt, Transport};

/// How the relay runs. [`RelayConfig::default`] suits production; tests shorten the waits.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Names the checkpoint row and the lock: one name per transport (`"pulsar"`,
    /// `"in-process"`), so that switching transports never starts one from the other's
    /// checkpoint.
    pub name: String,
    /// Events sent and not yet receipted, at most. Bounds memory and what a failure resends.
    pub max_in_flight: usize,
    /// Events read from the log per query.
    pub fetch_size: i64,
    /// Longest wait for new events when no append notification comes (notifications make
    /// the usual wait a round trip).
    pub poll_interval: Duration,
    /// Checkpoint writes are coalesced to at most one per this interval while busy (one
    /// write per event would cost more than publishing it); an idle relay saves at once.
    pub checkpoint_interval: Duration,
    /// First wait after a failure; doubles up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// How often a standby relay tries to take the lock.
    pub lock_retry_interval: Duration,
    /// How often the active relay checks that its lock is still its own (Postgres: the
    /// lock's connection is alive; SQLite: renews its lease, which lasts
    /// [`LEASE_CHECKS`] times this long, so a relay that died is replaced after at most
    /// that).
    pub lock_check_interval: Duration,
    /// On shutdown, how long to wait for the receipts of events in flight.
    pub drain_timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            name: "pulsar".to_owned(),
            max_in_flight: 1000,
            fetch_size: 500,
            poll_interval: Duration::from_millis(500),
            checkpoint_interval: Duration::from_millis(200),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            lock_retry_interval: Duration::from_secs(1),
            lock_check_interval: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

impl RelayConfig {
    /// The defaults, named for the in-process bus ([`crate::InProcessTransport`]).
    pub fn in_process() -> Self {
        Self {
            name: crate::in_process::RELAY_NAME.to_owned(),
            ..Self::default()
        }
    }

    /// How long a SQLite lease lasts from each renewal.
    fn lease(&self) -> Duration {
        self.lock_check_interval * LEASE_CHECKS
    }
}

/// A SQLite lease outlives this many lock checks: one late renewal (a busy writer) does not
/// lose it, and a relay that died is replaced within a few check intervals.
pub const LEASE_CHECKS: u32 = 3;

/// Encoded batches the log reader may have ready ahead of the sends.
const TAIL_BATCHES_AHEAD: usize = 2;

/// A relay, ready to [`spawn`](Relay::spawn).
pub struct Relay<T: Transport> {
    database: Database,
    transport: T,
    config: RelayConfig,
    waker: Option<LogWaker>,
    upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
}

impl<T: Transport> Relay<T> {
    /// A relay reading stored events through the domain's upcasters
    /// (`aggregates::upcasters::all`), as the event store does. Takes a [`Database`] (a
    /// `PgPool` converts into one).
    pub fn new(database: impl Into<Database>, transport: T, config: RelayConfig) -> Self {
        Self {
            database: database.into(),
            transport,
            config,
            waker: None,
            upcasters: Arc::new(aggregates::upcasters::all()),
        }
    }

    /// Shares a waker with other readers of the log (one LISTEN connection for all on
    /// Postgres); without one, the relay starts its own.
    pub fn with_waker(mut self, waker: LogWaker) -> Self {
        self.waker = Some(waker);
        self
    }

    /// Starts the relay in the background.
    pub fn spawn(self) -> RelayTask {
        let (progress_tx, progress_rx) = watch::channel(RelayProgress::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let handle = RelayHandle {
            name: self.config.name.clone(),
            database: self.database.clone(),
            progress: progress_rx,
        };
        let waker = self.waker.unwrap_or_else(|| LogWaker::spawn(&self.database));
        let span = tracing::info_span!("relay", relay = %self.config.name);
        let worker = Worker {
            database: self.database,
            holder: uuid::Uuid::now_v7().to_string(),
            transport: self.transport,
            config: self.config,
            waker,
            upcasters: self.upcasters,
            progress: progress_tx,
            stop: stop_rx,
        };
        let join = tokio::spawn(worker.run().instrument(span));
        RelayTask {
            handle,
            stop: stop_tx,
            join,
        }
    }
}

/// The running relay. Dropping it leaves the relay running (detached).
pub struct RelayTask {
    handle: RelayHandle,
    stop: watch::Sender<bool>,
    join: JoinHandle<()>,
}

impl RelayTask {
    /// For status queries; clone it freely.
    pub fn handle(&self) -> RelayHandle {
        self.handle.clone()
    }

    /// Stops gracefully: waits (up to `drain_timeout`) for the receipts of events in flight,
    /// saves the checkpoint, releases the lock.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = self.join.await;
    }

    /// A handle that stops the relay at once, as [`RelayTask::abort`] does, from
    /// synchronous code (an owner's `Drop`).
    pub fn abort_handle(&self) -> tokio::task::AbortHandle {
        self.join.abort_handle()
    }

    /// Stops at once, as a crash would: nothing is flushed, the lock goes with its
    /// connection (Postgres) or expires (SQLite lease). What was sent and not
    /// checkpointed is sent again by the next relay.
    pub async fn abort(self) {
        self.join.abort();
        let _ = self.join.await;
    }
}

/// Reads the relay's status.
#[derive(Clone)]
pub struct RelayHandle {
    name: String,
    database: Database,
    progress: watch::Receiver<RelayProgress>,
}

impl RelayHandle {
    /// What the relay knows of itself, without asking the database.
    pub fn progress(&self) -> RelayProgress {
        self.progress.borrow().clone()
    }

    /// The full status for `GET /relay`: progress, plus the saved checkpoint (possibly
    /// written by the relay of another process), the log's head and the lag. Never fails:
    /// what the database cannot tell within a second is `null`.
    pub async fn status(&self) -> RelayStatus {
        let mut progress = self.progress();
        let (saved, head) = tokio::join!(
            bounded(checkpoint::load(&self.database, &self.name)),
            bounded(reader::head_position(&self.database))
        );
        let lag = match saved {
            Some(cursor) => bounded(reader::count_after(&self.database, cursor)).await,
            None => None,
        };
        if let Some(cursor) = saved {
            progress.checkpoint = Some(cursor.into());
        }
        RelayStatus {
            relay: self.name.clone(),
            progress,
            head,
            lag,
        }
    }
}

/// A status query's answer, or `None` if it failed or took over a second.
async fn bounded<T, E>(query: impl std::future::Future<Output = Result<T, E>>) -> Option<T> {
    tokio::time::timeout(Duration::from_secs(1), query)
        .await
        .ok()?
        .ok()
}

/// Why a session ended.
enum Failure {
    /// The broker or the database failed: back off and try again.
    Transient(String),
    /// An event cannot be mapped: wait long, then try again.
    Stalled(String),
    /// The lock's connection failed or its lease was lost: another relay may hold the
    /// lock now.
    LockLost(String),
}

fn database(error: sqlx::Error) -> Failure {
    Failure::Transient(format!("database: {error}"))
}

fn transport(error: PublishError) -> Failure {
    Failure::Transient(error.to_string())
}

struct Worker<T: Transport> {
    database: Database,
    /// This relay instance's id in a SQLite lease.
    holder: String,
    transport: T,
    config: RelayConfig,
    waker: LogWaker,
    upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
    progress: watch::Sender<RelayProgress>,
    stop: watch::Receiver<bool>,
}

impl<T: Transport> Worker<T> {
    async fn run(mut self) {
        tracing::info!("relay started");
        let mut backoff = Backoff::new(self.config.min_backoff, self.config.max_backoff);
        'lock: while let Some(mut lock) = self.take_lock(&mut backoff).await {
            tracing::info!("relay lock taken: this relay is active");
            loop {
                match self.session(&mut lock, &mut backoff).await {
                    Ok(()) => {
                        lock.release().await;
                        break 'lock;
                    }
                    Err(Failure::Transient(error)) => {
                        self.report_error(RelayState::BackingOff, &error);
                        let delay = backoff.next_delay();
                        tracing::warn!(%error, ?delay, "relay failed; backing off");
                        self.pause(delay).await;
                    }
                    Err(Failure::Stalled(error)) => {
                        self.report_error(RelayState::Stalled, &error);
                        tracing::error!(%error, "relay stalled on an event it cannot map");
                        self.pause(self.config.max_backoff).await;
                    }
                    Err(Failure::LockLost(error)) => {
                        self.report_error(RelayState::BackingOff, &error);
                        tracing::warn!(%error, "relay lost its lock connection");
                        self.pause(backoff.next_delay()).await;
                        continue 'lock;
                    }
                }
                if self.stopping() {
                    lock.release().await;
                    break 'lock;
                }
                if let Err(error) = lock.check(Duration::from_secs(2)).await {
                    tracing::warn!(%error, "relay lost its lock connection while backing off");
                    continue 'lock;
                }
            }
        }
        self.progress.send_modify(|p| {
            p.state = RelayState::Stopped;
            p.in_flight = 0;
        });
        tracing::info!("relay stopped");
    }

    /// Takes the relay's lock, standing by while another relay holds it; `None` once a
    /// stop is requested.
    async fn take_lock(&mut self, backoff: &mut Backoff) -> Option<RelayLock> {
        while !self.stopping() {
            let mut lock = match RelayLock::connect(&self.database, self.config.lease(), &self.holder).await {
                Ok(lock) => lock,
                Err(error) => {
                    self.report_error(RelayState::BackingOff, &error.to_string());
                    self.pause(backoff.next_delay()).await;
                    continue;
                }
            };
            while !self.stopping() {
                match lock.try_acquire(&self.config.name).await {
                    Ok(true) => return Some(lock),
                    Ok(false) => {
                        self.set_state(RelayState::Standby);
                        self.pause(self.config.lock_retry_interval).await;
                    }
                    Err(error) => {
                        self.report_error(RelayState::BackingOff, &error.to_string());
                        self.pause(backoff.next_delay()).await;
                        break;
                    }
                }
            }
        }
        None
    }

    /// One connection to the transport: publish until a failure or a stop. The
    /// acknowledged cursor is saved on the way out, whatever the outcome.
    #[tracing::instrument(skip_all)]
    async fn session(&mut self, lock: &mut RelayLock, backoff: &mut Backoff) -> Result<(), Failure> {
        let start = checkpoint::load(&self.database, &self.config.name)
            .await
            .map_err(database)?;
        self.progress.send_modify(|p| {
            p.state = RelayState::Connecting;
            p.checkpoint = Some(start.into());
        });
        let mut publisher = tokio::select! {
            connected = self.transport.connect() => connected.map_err(transport)?,
            _ = stop_requested(&mut self.stop) => return Ok(()),
        };
        let mut window = Window::new(start);
        let mut saved = start;
        let outcome = self
            .pump(&mut publisher, &mut window, &mut saved, lock, backoff)
            .await;
        publisher.close().await;
        if window.acked != saved {
            // Best effort: if it fails, the next session resends a little more.
            if checkpoint::save(&self.database, &self.config.name, window.acked)
                .await
                .is_ok()
            {
                self.progress
                    .send_modify(|p| p.checkpoint = Some(window.acked.into()));
            }
        }
        self.progress.send_modify(|p| p.in_flight = 0);
        outcome
    }

    async fn pump(
        &mut self,
        publisher: &mut T::Publisher,
        window: &mut Window,
        saved: &mut LogCursor,
        lock: &mut RelayLock,
        backoff: &mut Backoff,
    ) -> Result<(), Failure> {
        let config = self.config.clone();
        let (batches_tx, mut batches) = mpsc::channel(TAIL_BATCHES_AHEAD);
        let tail = Tail {
            database: self.database.clone(),
            from: window.acked,
            fetch_size: config.fetch_size,
            poll_interval: config.poll_interval,
            waker: self.waker.clone(),
            upcasters: self.upcasters.clone(),
        };
        // Aborted when the session ends, however it ends.
        let _tail = AbortOnDrop(tokio::spawn(tail.run(batches_tx).in_current_span()));
        let mut buffer: VecDeque<OutgoingMessage> = VecDeque::new();
        let mut last_save = Instant::now();
        let mut lock_check = tokio::time::interval_at(
            Instant::now() + config.lock_check_interval,
            config.lock_check_interval,
        );
        lock_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        loop {
            // Send what the window allows, without waiting for receipts. Say so first:
            // a send can block while the broker is away, and the status must not claim
            // "caught up" meanwhile.
            if !buffer.is_empty() {
                self.progress.send_if_modified(|p| {
                    let changed = p.state != RelayState::Publishing;
                    p.state = RelayState::Publishing;
                    changed
                });
            }
            while window.len() < config.max_in_flight {
                let Some(message) = buffer.pop_front() else { break };
                let cursor = message.cursor;
                let receipt = publisher.send(message).await.map_err(transport)?;
                window.push(cursor, receipt);
            }
            // Save the checkpoint: coalesced while busy, at once when idle.
            let idle = window.is_empty() && buffer.is_empty();
            if window.acked != *saved && (idle || last_save.elapsed() >= config.checkpoint_interval) {
                checkpoint::save(&self.database, &config.name, window.acked)
                    .await
                    .map_err(database)?;
                *saved = window.acked;
                last_save = Instant::now();
                self.progress
                    .send_modify(|p| p.checkpoint = Some(window.acked.into()));
            }
            let state = if idle && batches.is_empty() {
                RelayState::CaughtUp
            } else {
                RelayState::Publishing
            };
            let in_flight = window.len();
            self.progress.send_if_modified(|p| {
                let changed = p.state != state || p.in_flight != in_flight;
                p.state = state;
                p.in_flight = in_flight;
                changed
            });

            let room = buffer.is_empty() && window.len() < config.max_in_flight;
            tokio::select! {
                biased;
                _ = stop_requested(&mut self.stop) => {
                    window.drain(config.drain_timeout).await;
                    return Ok(());
                }
                receipt = window.next(), if !window.is_empty() => {
                    receipt.map_err(transport)?;
                    let more = window.take_ready().map_err(transport)?;
                    backoff.reset();
                    let now = chrono::Utc::now();
                    self.progress.send_modify(|p| {
                        p.published += 1 + more;
                        p.last_publish_at = Some(now);
                    });
                }
                tailed = batches.recv(), if room => match tailed {
                    Some(Tailed::Batch(messages)) => buffer.extend(messages),
                    Some(Tailed::Database(error)) => return Err(database(error)),
                    Some(Tailed::Unmappable(error)) => {
                        // Let the events before it count as published before stopping.
                        window.drain(config.drain_timeout).await;
                        return Err(Failure::Stalled(error.to_string()));
                    }
                    None => return Err(Failure::Transient("the log reader stopped".to_owned())),
                },
                _ = tokio::time::sleep_until(last_save + config.checkpoint_interval), if window.acked != *saved => {}
                _ = lock_check.tick() => {
                    // A check may take up to one interval: on SQLite it queues behind
                    // the other writers, and the lease outlives LEASE_CHECKS intervals.
                    lock.check(config.lock_check_interval)
                        .await
                        .map_err(|error| Failure::LockLost(error.to_string()))?;
                }
            }
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits `delay`, or less if a stop is requested.
    async fn pause(&mut self, delay: Duration) {
        let _ = tokio::time::timeout(delay, stop_requested(&mut self.stop)).await;
    }

    fn set_state(&self, state: RelayState) {
        self.progress.send_if_modified(|p| {
            let changed = p.state != state;
            p.state = state;
            changed
        });
    }

    fn report_error(&self, state: RelayState, error: &str) {
        let now = chrono::Utc::now();
        self.progress.send_modify(|p| {
            p.state = state;
            p.last_error = Some(error.to_owned());
            p.last_error_at = Some(now);
        });
    }
}

/// Resolves once a stop is requested; never if the [`RelayTask`] was dropped (detached).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A receipt with the cursor of its event.
struct Tagged {
    cursor: LogCursor,
    receipt: Receipt,
}

impl Future for Tagged {
    type Output = (LogCursor, Result<(), PublishError>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let cursor = this.cursor;
        Pin::new(&mut this.receipt)
            .poll(cx)
            .map(|result| (cursor, result))
    }
}

/// Aborts a task when dropped: the log reader lives exactly as long as its session.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The events sent and not yet receipted, in send order, and the acknowledged cursor.
struct Window {
    in_flight: FuturesOrdered<Tagged>,
    /// Every event up to here (in commit order) has its receipt.
    acked: LogCursor,
}

impl Window {
    fn new(acked: LogCursor) -> Self {
        Self {
            in_flight: FuturesOrdered::new(),
            acked,
        }
    }

    fn len(&self) -> usize {
        self.in_flight.len()
    }

    fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    fn push(&mut self, cursor: LogCursor, receipt: Receipt) {
        self.in_flight.push_back(Tagged { cursor, receipt });
    }

    /// The next receipt in send order (`FuturesOrdered` yields in push order, so a receipt
    /// that arrived early waits for the earlier ones): the acknowledged cursor only ever
    /// moves over a contiguous run of receipts.
    async fn next(&mut self) -> Result<(), PublishError> {
        match self.in_flight.next().await {
            Some((cursor, Ok(()))) => {
                self.acked = cursor;
                Ok(())
            }
            Some((_, Err(error))) => Err(error),
            None => Ok(()),
        }
    }

    /// Takes the receipts already arrived without waiting; returns how many.
    fn take_ready(&mut self) -> Result<u64, PublishError> {
        let mut taken = 0;
        while let Some(Some((cursor, result))) = self.in_flight.next().now_or_never() {
            result?;
            self.acked = cursor;
            taken += 1;
        }
        Ok(taken)
    }

    /// Waits for the receipts in flight, up to `timeout` or the first failure.
    async fn drain(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.is_empty() {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    fn cursor(position: i64) -> LogCursor {
        LogCursor {
            transaction_id: position,
            position,
        }
    }

    fn pending_receipt() -> (oneshot::Sender<Result<(), PublishError>>, Receipt) {
        let (tx, rx) = oneshot::channel();
        let receipt = Receipt::new(async move {
            rx.await
                .unwrap_or_else(|_| Err(PublishError::Receipt("dropped".into())))
        });
        (tx, receipt)
    }

    #[tokio::test]
    async fn the_acknowledged_cursor_moves_only_over_contiguous_receipts() {
        let mut window = Window::new(cursor(0));
        let (first, receipt) = pending_receipt();
        window.push(cursor(1), receipt);
        let (second, receipt) = pending_receipt();
        window.push(cursor(2), receipt);
        let (third, receipt) = pending_receipt();
        window.push(cursor(3), receipt);

        // Receipts 2 and 3 arrive first: nothing is acknowledged yet.
        second.send(Ok(())).unwrap();
        third.send(Ok(())).unwrap();
        assert_eq!(window.take_ready().unwrap(), 0);
        assert_eq!(window.acked, cursor(0));

        // Receipt 1 arrives: the cursor jumps over all three.
        first.send(Ok(())).unwrap();
        window.next().await.unwrap();
        assert_eq!(window.take_ready().unwrap(), 2);
        assert_eq!(window.acked, cursor(3));
        assert!(window.is_empty());
    }

    #[tokio::test]
    async fn a_failed_receipt_stops_the_cursor_before_it() {
        let mut window = Window::new(cursor(0));
        let (first, receipt) = pending_receipt();
        window.push(cursor(1), receipt);
        let (second, receipt) = pending_receipt();
        window.push(cursor(2), receipt);
        let (third, receipt) = pending_receipt();
        window.push(cursor(3), receipt);
        first.send(Ok(())).unwrap();
        second.send(Err(PublishError::Receipt("timeout".into()))).unwrap();
        third.send(Ok(())).unwrap();

        window.next().await.unwrap();
        assert!(window.take_ready().is_err());
        assert_eq!(window.acked, cursor(1), "event 3 is resent with event 2");
    }
}
