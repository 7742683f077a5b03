//! [`Relay`]: publishes every committed event through a [`Transport`], moving its
//! checkpoint only behind the transport's receipts.
//!
//! The event log itself is the outbox: an event is in the log if and only if its command
//! committed, and the relay reads the log in commit-safe order, so every committed event
//! is published and nothing else is.
//!
//! The relay is a [`LogHandler`] of the store's log-consumer runtime ([`LogConsumer`]),
//! which owns what every consumer of the log shares: one active relay per name across
//! processes (its lease), the commit-order tail and its wake-ups, the backoff after a
//! failure, and stopping at an event that cannot be mapped ("stalled", retried now and
//! then, never skipped). What is the relay's own:
//! - **Sending without waiting**: each batch is sent at once, up to `max_in_flight`
//!   events without a receipt; the receipts are awaited in send order. The acknowledged
//!   cursor is the last event whose receipt, and every earlier one's, arrived.
//! - **The checkpoint** (`relay_checkpoints`): the acknowledged cursor, saved now and
//!   then (`checkpoint_interval`) and whenever the relay is caught up, and on the way
//!   out of a session. After any failure the runtime resumes from it: events sent but
//!   not acknowledged are sent again (at-least-once, with the event id for consumers to
//!   deduplicate).
//!
//! Order per aggregate holds because one relay reads in commit order (an aggregate's events
//! commit in sequence order), sends in that order on one producer per topic, and a restart
//! resends from the checkpoint, never skipping ahead.

use cqrs_es::persist::EventUpcaster;
use futures::stream::{FuturesOrdered, StreamExt};
use futures::FutureExt;
use observability::metrics::RELAY_SEND_FAILURES;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use store::{
    ConsumerSettings, ConsumerState, ConsumerStatus, ConsumerTask, Database, HandleError, Handled,
    LogConsumer, LogCursor, LogHandler, LogWaker, RecordedEvent, Resume,
};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::checkpoints::RelayCheckpoints;
use crate::message::encode;
use crate::status::{RelayProgress, RelayState, RelayStatus};
use crate::transport::{PublishError, Publisher, Receipt, Transport};

/// How the relay runs. [`RelayConfig::default`] suits production; tests shorten the waits.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Names the checkpoint row and the lease: one name per transport (`"pulsar"`,
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
    /// First wait after a failure; doubles up to `max_backoff`. A relay stalled on an event
    /// it cannot map tries it again every `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// How often a standby relay tries to take the lease.
    pub lock_retry_interval: Duration,
    /// How often the active relay renews its lease (Postgres: checks the lock's
    /// connection is alive; SQLite: extends the lease row, which lasts [`LEASE_CHECKS`]
    /// times this long, so a relay that died is replaced after at most that).
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

    /// The runtime's settings for this relay.
    fn consumer(&self) -> ConsumerSettings {
        ConsumerSettings {
            batch_size: self.fetch_size,
            poll_interval: self.poll_interval,
            // Sends are cheap and pipelined: nothing to gain by waiting for more events.
            batch_linger: Duration::ZERO,
            lease_check: self.lock_check_interval,
            standby_retry: self.lock_retry_interval,
            lease_duration: self.lock_check_interval * LEASE_CHECKS,
            // An unmappable event will not map better a moment later: stall at once,
            // and try again every `max_backoff` (see `Publishing::stop_at`).
            poison_retry_delays: Vec::new(),
            min_backoff: self.min_backoff,
            max_backoff: self.max_backoff,
            // Reading the log overlaps with waiting for the broker's receipts.
            read_ahead: true,
        }
    }
}

/// A SQLite lease outlives this many lease renewals: one late renewal (a busy writer) does
/// not lose it, and a relay that died is replaced within a few check intervals.
pub const LEASE_CHECKS: u32 = 3;

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
        let checkpoints: Arc<dyn RelayCheckpoints> =
            Arc::from(self.database.per_backend::<Box<dyn RelayCheckpoints>>());
        let waker = self.waker.unwrap_or_else(|| LogWaker::spawn(&self.database));
        let handler = Publishing {
            name: self.config.name.clone(),
            checkpoints: checkpoints.clone(),
            transport: self.transport,
            config: self.config.clone(),
            upcasters: self.upcasters,
            progress: progress_tx,
            publisher: None,
            window: Window::new(LogCursor::START),
            saved: LogCursor::START,
            last_save: Instant::now(),
            stalled_until: None,
        };
        let consumer = LogConsumer::new(
            "relay",
            &self.config.name,
            self.database.clone(),
            waker,
            self.config.consumer(),
            handler,
        );
        let handle = RelayHandle {
            name: self.config.name.clone(),
            database: self.database,
            checkpoints,
            progress: progress_rx,
            consumer: consumer.status(),
        };
        RelayTask {
            handle,
            task: consumer.spawn(),
        }
    }
}

/// The running relay. Dropping it leaves the relay running (detached).
pub struct RelayTask {
    handle: RelayHandle,
    task: ConsumerTask,
}

impl RelayTask {
    /// For status queries; clone it freely.
    pub fn handle(&self) -> RelayHandle {
        self.handle.clone()
    }

    /// Stops gracefully: waits (up to `drain_timeout`) for the receipts of events in flight,
    /// saves the checkpoint, releases the lease.
    pub async fn shutdown(self) {
        self.task.shutdown().await
    }

    /// A handle that stops the relay at once, as [`RelayTask::abort`] does, from
    /// synchronous code (an owner's `Drop`).
    pub fn abort_handle(&self) -> tokio::task::AbortHandle {
        self.task.abort_handle()
    }

    /// Stops at once, as a crash would: nothing is flushed, the lease goes with its
    /// connection (Postgres) or expires (SQLite). What was sent and not checkpointed is
    /// sent again by the next relay.
    pub async fn abort(self) {
        self.task.abort().await
    }
}

/// Reads the relay's status.
#[derive(Clone)]
pub struct RelayHandle {
    name: String,
    database: Database,
    checkpoints: Arc<dyn RelayCheckpoints>,
    progress: watch::Receiver<RelayProgress>,
    consumer: watch::Receiver<ConsumerStatus>,
}

impl RelayHandle {
    /// What the relay knows of itself, without asking the database: the runtime's state
    /// (standing by, backing off, stalled, stopped) or, while it publishes, its own.
    pub fn progress(&self) -> RelayProgress {
        let mut progress = self.progress.borrow().clone();
        let consumer = self.consumer.borrow().clone();
        progress.state = match consumer.state {
            ConsumerState::Starting => RelayState::Starting,
            ConsumerState::Standby => RelayState::Standby,
            ConsumerState::BackingOff => RelayState::BackingOff,
            ConsumerState::Failed => RelayState::Stalled,
            ConsumerState::Stopped => RelayState::Stopped,
            ConsumerState::Running => progress.state,
        };
        // The latest failure, whoever met it (the runtime: database, broker, lease; the
        // relay: an event it cannot map).
        if consumer.last_error.is_some() && consumer.last_error_at > progress.last_error_at {
            progress.last_error = consumer.last_error;
            progress.last_error_at = consumer.last_error_at;
        }
        if matches!(consumer.state, ConsumerState::Stopped) {
            progress.in_flight = 0;
        }
        progress
    }

    /// The full status for `GET /relay`: progress, plus the saved checkpoint (possibly
    /// written by the relay of another process), the log's head and the lag. Never fails:
    /// what the database cannot tell within a second is `null`.
    pub async fn status(&self) -> RelayStatus {
        let mut progress = self.progress();
        let (saved, head) = tokio::join!(
            bounded(self.checkpoints.load(&self.name)),
            bounded(self.database.head_position())
        );
        let (lag, oldest) = match saved {
            Some(cursor) => tokio::join!(
                bounded(self.database.count_after(cursor)),
                bounded(self.database.oldest_after(cursor))
            ),
            None => (None, None),
        };
        let lag_seconds = oldest.map(|oldest| match oldest {
            Some(recorded_at) => store::seconds_since(recorded_at),
            None => 0.0,
        });
        if let Some(cursor) = saved {
            progress.checkpoint = Some(cursor.into());
        }
        RelayStatus {
            relay: self.name.clone(),
            progress,
            head,
            lag,
            lag_seconds,
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

fn transport(error: PublishError) -> HandleError {
    HandleError::Transient(error.to_string())
}

fn database(error: sqlx::Error) -> HandleError {
    HandleError::Transient(format!("database: {error}"))
}

/// The relay's part, plugged into the runtime: encode, send, collect the receipts,
/// save the acknowledged cursor.
struct Publishing<T: Transport> {
    name: String,
    checkpoints: Arc<dyn RelayCheckpoints>,
    transport: T,
    config: RelayConfig,
    upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
    progress: watch::Sender<RelayProgress>,
    /// Connected when a session first has something to send.
    publisher: Option<T::Publisher>,
    window: Window,
    /// The cursor last saved.
    saved: LogCursor,
    last_save: Instant,
    /// Stalled on an event that cannot be mapped: tried again after this.
    stalled_until: Option<Instant>,
}

impl<T: Transport> Publishing<T> {
    fn set_state(&self, state: RelayState) {
        let in_flight = self.window.len();
        self.progress.send_if_modified(|p| {
            let changed = p.state != state || p.in_flight != in_flight;
            p.state = state;
            p.in_flight = in_flight;
            changed
        });
    }

    async fn publisher(&mut self) -> Result<&mut T::Publisher, HandleError> {
        if self.publisher.is_none() {
            self.set_state(RelayState::Connecting);
            self.publisher = Some(self.transport.connect().await.map_err(transport)?);
        }
        Ok(self.publisher.as_mut().expect("connected above"))
    }

    /// Counts the receipts that arrived, and saves the checkpoint when it is due
    /// (`now`: whatever the interval).
    async fn settle(&mut self, now: bool) -> Result<(), HandleError> {
        let more = self.window.take_ready().map_err(transport)?;
        if more > 0 {
            self.count_published(more);
        }
        if self.window.acked != self.saved
            && (now || self.last_save.elapsed() >= self.config.checkpoint_interval)
        {
            self.save().await.map_err(database)?;
        }
        Ok(())
    }

    async fn save(&mut self) -> Result<(), sqlx::Error> {
        self.checkpoints.save(&self.name, self.window.acked).await?;
        self.saved = self.window.acked;
        self.last_save = Instant::now();
        let saved = self.saved;
        self.progress.send_modify(|p| p.checkpoint = Some(saved.into()));
        Ok(())
    }

    fn count_published(&self, receipts: u64) {
        let now = chrono::Utc::now();
        self.progress.send_modify(|p| {
            p.published += receipts;
            p.last_publish_at = Some(now);
        });
    }

    /// Waits for the next receipt in send order.
    async fn next_receipt(&mut self) -> Result<(), HandleError> {
        let receipt = self.window.next().await;
        receipt.map_err(|error| self.send_failed(error))?;
        self.count_published(1);
        Ok(())
    }

    /// A send or its receipt failed: counted, then handled as trouble to back off from.
    fn send_failed(&self, error: PublishError) -> HandleError {
        metrics::counter!(RELAY_SEND_FAILURES, "relay" => self.name.clone()).increment(1);
        transport(error)
    }

    /// Waits for every receipt in flight, up to `timeout` or the first failure.
    async fn drain(&mut self, timeout: Duration) {
        let published = self.window.drain(timeout).await;
        if published > 0 {
            self.count_published(published);
        }
    }
}

#[async_trait::async_trait]
impl<T: Transport> LogHandler for Publishing<T> {
    async fn resume(&mut self) -> Result<Resume, HandleError> {
        if let Some(until) = self.stalled_until {
            if Instant::now() < until {
                return Ok(Resume {
                    cursor: self.window.acked,
                    failed: true,
                });
            }
            self.stalled_until = None;
        }
        let cursor = self.checkpoints.load(&self.name).await.map_err(database)?;
        self.window = Window::new(cursor);
        self.saved = cursor;
        self.progress.send_modify(|p| p.checkpoint = Some(cursor.into()));
        Ok(Resume {
            cursor,
            failed: false,
        })
    }

    async fn handle(&mut self, _from: LogCursor, events: &[RecordedEvent]) -> Result<Handled, HandleError> {
        let acked = self.window.acked;
        let mut messages = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            match encode(event, &self.upcasters) {
                Ok(message) => messages.push(message),
                Err(error) => {
                    return Err(HandleError::Poison {
                        index,
                        reason: error.to_string(),
                    })
                }
            }
        }
        // Say so first: a send can block while the broker is away, and the status must
        // not claim "caught up" meanwhile.
        self.set_state(RelayState::Publishing);
        for message in messages {
            while self.window.len() >= self.config.max_in_flight {
                self.next_receipt().await?;
                self.settle(false).await?;
            }
            let cursor = message.cursor;
            let sent = self.publisher().await?.send(message).await;
            let receipt = sent.map_err(|error| self.send_failed(error))?;
            self.window.push(cursor, receipt);
        }
        self.settle(false).await?;
        self.set_state(RelayState::Publishing);
        // Confirmed progress is a receipt, not a send (a subscriber that keeps failing
        // its receipts must make the relay back off).
        Ok(if self.window.acked != acked {
            Handled::Confirmed
        } else {
            Handled::Pending
        })
    }

    async fn caught_up(&mut self) -> Result<(), HandleError> {
        // Connected even when idle, so that a broker that is away shows (backing off)
        // before there is anything to send.
        self.publisher().await?;
        while !self.window.is_empty() {
            self.next_receipt().await?;
        }
        self.settle(true).await?;
        self.set_state(RelayState::CaughtUp);
        Ok(())
    }

    async fn stop_at(
        &mut self,
        _at: LogCursor,
        _event: &RecordedEvent,
        reason: &str,
    ) -> Result<(), HandleError> {
        // Let the events before it count as published before stalling.
        self.drain(self.config.drain_timeout).await;
        self.settle(true).await?;
        self.stalled_until = Some(Instant::now() + self.config.max_backoff);
        let now = chrono::Utc::now();
        self.progress.send_modify(|p| {
            p.last_error = Some(reason.to_owned());
            p.last_error_at = Some(now);
        });
        tracing::error!(%reason, "relay stalled on an event it cannot map");
        Ok(())
    }

    async fn end_session(&mut self, stopping: bool) {
        if stopping {
            self.drain(self.config.drain_timeout).await;
        } else if let Ok(more) = self.window.take_ready() {
            self.count_published(more);
        }
        if let Some(mut publisher) = self.publisher.take() {
            publisher.close().await;
        }
        if self.window.acked != self.saved {
            // Best effort: if it fails, the next session resends a little more.
            let _ = self.save().await;
        }
        self.window = Window::new(self.saved);
        self.progress.send_modify(|p| p.in_flight = 0);
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

/// The events sent and not yet receipted, in send order, and the acknowledged cursor.
struct Window {
    in_flight: FuturesOrdered<Tagged>,
    /// Every event up to here (in commit order) has its receipt.
    acked: LogCursor,
    /// A receipt failed: the cursor stays before that event, whatever later receipts say
    /// (they are sent again with it).
    broken: bool,
}

impl Window {
    fn new(acked: LogCursor) -> Self {
        Self {
            in_flight: FuturesOrdered::new(),
            acked,
            broken: false,
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
        self.check()?;
        match self.in_flight.next().await {
            Some((cursor, result)) => self.acknowledge(cursor, result),
            None => Ok(()),
        }
    }

    /// Takes the receipts already arrived without waiting; returns how many.
    fn take_ready(&mut self) -> Result<u64, PublishError> {
        self.check()?;
        let mut taken = 0;
        while let Some(Some((cursor, result))) = self.in_flight.next().now_or_never() {
            self.acknowledge(cursor, result)?;
            taken += 1;
        }
        Ok(taken)
    }

    fn check(&self) -> Result<(), PublishError> {
        match self.broken {
            true => Err(PublishError::Receipt("an earlier receipt failed".into())),
            false => Ok(()),
        }
    }

    fn acknowledge(
        &mut self,
        cursor: LogCursor,
        receipt: Result<(), PublishError>,
    ) -> Result<(), PublishError> {
        match receipt {
            Ok(()) => {
                self.acked = cursor;
                Ok(())
            }
            Err(error) => {
                self.broken = true;
                Err(error)
            }
        }
    }

    /// Waits for the receipts in flight, up to `timeout` or the first failure; how many
    /// arrived.
    async fn drain(&mut self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut arrived = 0;
        while !self.is_empty() {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Ok(())) => arrived += 1,
                Ok(Err(_)) | Err(_) => break,
            }
        }
        arrived
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
        // Taken after the failure, event 3's receipt does not move the cursor either.
        assert!(window.take_ready().is_err());
        assert!(window.next().await.is_err());
        assert_eq!(window.acked, cursor(1));
    }
}
