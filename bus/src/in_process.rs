//! [`InProcessTransport`]: the relay's bus when there is no Pulsar, delivering each message
//! to subscribers in the same process (the tracking service of `alpes serve`).
//!
//! ```text
//!  Relay ──send──> InProcessPublisher ──lane = hash(key) % lanes──> lane task ──deliver──> Subscriber(s)
//!    ▲                                                                  │   (applies it durably,
//!    └──────────────────── Receipt: Ok once every subscriber applied ───┘    idempotent on event id)
//! ```
//!
//! Nothing is kept in memory that the log does not have: a message's [`Receipt`] resolves
//! only once every subscriber has durably applied it, and the relay's checkpoint moves only
//! behind receipts. So the relay's checkpoint *is* this bus's checkpoint: after a crash the
//! relay resends from it, and the subscribers recognise what they applied already (by
//! event id). Nothing is lost, and no separate queue has to survive a restart.
//!
//! - **Order per key**: every message of a key goes to the same lane, and a lane delivers
//!   one message at a time, in send order. Lanes run side by side (different keys).
//! - **A subscriber that cannot work now** ([`DeliveryError::Unavailable`]: its database
//!   is away, it is stopped) fails the receipt. The publisher is then broken: it delivers
//!   nothing more (a later message of the same key must not overtake the failed one) and
//!   fails every receipt; the relay closes it, backs off, reconnects and resends from its
//!   checkpoint. A delivery that takes longer than `delivery_timeout` counts as such a
//!   failure, so a hung subscriber cannot hold the relay forever.
//! - **A message a subscriber refuses** ([`DeliveryError::Rejected`]: undecodable, refused
//!   by its database for good) is delivered again up to `max_redeliveries` times (as the
//!   Pulsar consumer's negative acknowledgements are), then handed to
//!   [`Subscriber::dead_letter`], which records it, and acknowledged: one bad message never
//!   blocks the rest. (In-process, the relay's own mapping makes every message a valid v1
//!   event, so this guards against defects and schema drift, not foreign producers.)
//! - **No subscriber**: connecting fails (the relay backs off) rather than acknowledging
//!   messages nobody received, which would move the checkpoint past them for good.

use async_trait::async_trait;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::message::OutgoingMessage;
use crate::transport::{PublishError, Publisher, Receipt, Transport};

/// The relay name (checkpoint row, lock) of the in-process bus; see
/// [`crate::RelayConfig::in_process`].
pub const RELAY_NAME: &str = "in-process";

/// How the in-process bus delivers.
#[derive(Debug, Clone)]
pub struct InProcessConfig {
    /// Deliveries that run side by side (messages of one key always share a lane). More
    /// lanes help a subscriber whose database takes concurrent writes (Postgres); SQLite
    /// serialises writers anyway.
    pub lanes: usize,
    /// Messages queued per lane before `send` waits (back-pressure on the relay).
    pub lane_capacity: usize,
    /// A message a subscriber rejects is delivered this many times more, then
    /// dead-lettered.
    pub max_redeliveries: usize,
    /// A delivery taking longer fails (as [`DeliveryError::Unavailable`]).
    pub delivery_timeout: Duration,
}

impl Default for InProcessConfig {
    fn default() -> Self {
        Self {
            lanes: 4,
            lane_capacity: 256,
            max_redeliveries: 3,
            delivery_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a subscriber did not apply a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The message itself cannot be applied (undecodable, refused for good): delivered
    /// again a few times, then dead-lettered and acknowledged.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The subscriber cannot apply anything now: the receipt fails, and the relay resends
    /// from its checkpoint after a backoff.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Something in this process that consumes the relay's messages.
#[async_trait]
pub trait Subscriber: Send + Sync + 'static {
    /// For logs and errors.
    fn name(&self) -> &str;

    /// Applies `message` durably, or recognises it as applied before (the relay resends
    /// after failures: deduplicate on [`OutgoingMessage::event_id`]). `Ok` must mean it
    /// survives a crash: the relay's checkpoint may move past it at once.
    async fn deliver(&self, message: &OutgoingMessage) -> Result<(), DeliveryError>;

    /// Records a message rejected more often than allowed, durably (after `Ok` it is
    /// acknowledged and never delivered again). An error fails the receipt: the message
    /// is delivered again later.
    async fn dead_letter(&self, message: &OutgoingMessage, reason: &str) -> Result<(), String>;
}

/// The in-process bus. Clone it freely: clones share their subscribers.
#[derive(Clone)]
pub struct InProcessTransport {
    config: InProcessConfig,
    subscribers: Arc<RwLock<Vec<Arc<dyn Subscriber>>>>,
}

impl InProcessTransport {
    pub fn new(config: InProcessConfig) -> Self {
        Self {
            config,
            subscribers: Arc::default(),
        }
    }

    /// Adds a subscriber: it receives every message sent through publishers connected
    /// from now on (a relay reconnects after every failure, so subscribe before starting
    /// the relay, or expect the first publisher to miss it).
    pub fn subscribe(&self, subscriber: Arc<dyn Subscriber>) {
        self.subscribers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(subscriber);
    }

    pub fn config(&self) -> &InProcessConfig {
        &self.config
    }

    fn snapshot(&self) -> Arc<[Arc<dyn Subscriber>]> {
        self.subscribers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

impl std::fmt::Debug for InProcessTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.snapshot().iter().map(|s| s.name().to_owned()).collect();
        f.debug_struct("InProcessTransport")
            .field("config", &self.config)
            .field("subscribers", &names)
            .finish()
    }
}

#[async_trait]
impl Transport for InProcessTransport {
    type Publisher = InProcessPublisher;

    async fn connect(&self) -> Result<InProcessPublisher, PublishError> {
        let subscribers = self.snapshot();
        if subscribers.is_empty() {
            return Err(PublishError::Connect(
                "the in-process bus has no subscriber: nothing would receive the events".into(),
            ));
        }
        let broken = Arc::new(OnceLock::new());
        let lanes = self.config.lanes.max(1);
        let mut senders = Vec::with_capacity(lanes);
        let mut tasks = Vec::with_capacity(lanes);
        for _ in 0..lanes {
            let (sender, jobs) = mpsc::channel(self.config.lane_capacity.max(1));
            let lane = Lane {
                jobs,
                subscribers: subscribers.clone(),
                config: self.config.clone(),
                broken: broken.clone(),
            };
            senders.push(sender);
            tasks.push(tokio::spawn(lane.run()));
        }
        Ok(InProcessPublisher {
            senders,
            tasks,
            broken,
        })
    }
}

/// One connection of the relay to the in-process bus: its lanes live as long as it.
pub struct InProcessPublisher {
    senders: Vec<mpsc::Sender<Job>>,
    tasks: Vec<JoinHandle<()>>,
    /// Set by the first failed delivery (to its error), or by `close`: nothing more is
    /// delivered, and what is refused says why (the first failure in time, which may be
    /// a later message's, on another lane, than the one refused).
    broken: Arc<OnceLock<String>>,
}

#[async_trait]
impl Publisher for InProcessPublisher {
    async fn send(&mut self, message: OutgoingMessage) -> Result<Receipt, PublishError> {
        if let Some(cause) = self.broken.get() {
            return Err(PublishError::Send(format!(
                "an earlier message failed ({cause}); this connection delivers nothing more"
            )));
        }
        let lane = lane_of(&message.key, self.senders.len());
        let (done, receipt) = oneshot::channel();
        self.senders[lane]
            .send(Job { message, done })
            .await
            .map_err(|_| PublishError::Send("the in-process bus is closed".into()))?;
        Ok(Receipt::new(async move {
            receipt.await.unwrap_or_else(|_| {
                Err(PublishError::Receipt(
                    "the in-process bus stopped before the message was applied".into(),
                ))
            })
        }))
    }

    /// Stops delivering: queued messages fail (the relay resends them from its checkpoint),
    /// a delivery under way may finish (bounded), then the lanes end. So the next
    /// publisher's deliveries never run beside this one's.
    async fn close(&mut self) {
        let _ = self.broken.set("the connection was closed".into());
        self.senders.clear();
        let tasks = std::mem::take(&mut self.tasks);
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        let finished = tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(tasks)).await;
        if finished.is_err() {
            for abort in aborts {
                abort.abort();
            }
        }
    }
}

impl Drop for InProcessPublisher {
    /// Dropped without `close` (the relay was aborted, as in a crash): stop at once.
    fn drop(&mut self) {
        let _ = self.broken.set("the connection was dropped".into());
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Which lane a key's messages take: stable for the publisher's life, which is all that
/// order needs (a new publisher resends from the checkpoint anyway).
fn lane_of(key: &str, lanes: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    // The remainder is below `lanes`, a usize: the cast back is exact.
    (hasher.finish() % lanes as u64) as usize
}

struct Job {
    message: OutgoingMessage,
    done: oneshot::Sender<Result<(), PublishError>>,
}

struct Lane {
    jobs: mpsc::Receiver<Job>,
    subscribers: Arc<[Arc<dyn Subscriber>]>,
    config: InProcessConfig,
    broken: Arc<OnceLock<String>>,
}

impl Lane {
    async fn run(mut self) {
        while let Some(job) = self.jobs.recv().await {
            let result = match self.broken.get() {
                Some(cause) => Err(PublishError::Receipt(format!(
                    "not delivered: an earlier message failed on this connection ({cause})"
                ))),
                None => self.deliver(&job.message).await,
            };
            if let Err(error) = &result {
                if self.broken.set(error.to_string()).is_ok() {
                    tracing::warn!(%error, event_id = %job.message.event_id,
                        "in-process delivery failed; the relay will resend from its checkpoint");
                }
            }
            let _ = job.done.send(result);
        }
    }

    /// Delivers to every subscriber in turn. A subscriber that applied the message before a
    /// later one failed gets it again on the resend, as a duplicate it ignores.
    async fn deliver(&self, message: &OutgoingMessage) -> Result<(), PublishError> {
        for subscriber in self.subscribers.iter() {
            self.deliver_to(subscriber.as_ref(), message).await?;
        }
        Ok(())
    }

    async fn deliver_to(
        &self,
        subscriber: &dyn Subscriber,
        message: &OutgoingMessage,
    ) -> Result<(), PublishError> {
        let name = subscriber.name();
        let mut rejections = 0;
        loop {
            let delivery = tokio::time::timeout(self.config.delivery_timeout, subscriber.deliver(message));
            let reason = match delivery.await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(DeliveryError::Unavailable(error))) => {
                    return Err(PublishError::Receipt(format!("subscriber {name}: {error}")))
                }
                Err(_) => {
                    return Err(PublishError::Receipt(format!(
                        "subscriber {name} did not apply the message within {:?}",
                        self.config.delivery_timeout
                    )))
                }
                Ok(Err(DeliveryError::Rejected(reason))) => reason,
            };
            rejections += 1;
            if rejections <= self.config.max_redeliveries {
                continue;
            }
            tracing::error!(subscriber = name, event_id = %message.event_id, key = %message.key, %reason,
                "message rejected {rejections} times: dead-lettered");
            let recorded = tokio::time::timeout(
                self.config.delivery_timeout,
                subscriber.dead_letter(message, &reason),
            );
            return match recorded.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(PublishError::Receipt(format!(
                    "subscriber {name} cannot record a dead letter: {error}"
                ))),
                Err(_) => Err(PublishError::Receipt(format!(
                    "subscriber {name} did not record a dead letter within {:?}",
                    self.config.delivery_timeout
                ))),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::EventStream;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    use store::LogCursor;
    use uuid::Uuid;

    fn message(key: &str, position: i64) -> OutgoingMessage {
        OutgoingMessage {
            stream: EventStream::Campaigns,
            key: key.to_owned(),
            payload: position.to_string().into_bytes(),
            event_time: chrono::Utc::now(),
            properties: vec![],
            event_id: Uuid::now_v7(),
            cursor: LogCursor {
                transaction_id: position,
                position,
            },
        }
    }

    /// What a scripted subscriber does with the payload it is given.
    #[derive(Clone, Copy)]
    enum Script {
        Apply,
        Reject,
        Unavailable,
        Hang,
    }

    #[derive(Default)]
    struct Recorder {
        script: Mutex<Vec<(String, Script)>>,
        applied: Mutex<Vec<(String, String)>>,
        attempts: Mutex<Vec<String>>,
        dead: Mutex<Vec<(String, String)>>,
        dead_letter_fails: AtomicBool,
        delay: Mutex<Option<Duration>>,
    }

    impl Recorder {
        fn script(&self, payload: &str, script: Script) {
            self.script.lock().unwrap().push((payload.to_owned(), script));
        }

        fn applied(&self) -> Vec<(String, String)> {
            self.applied.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl Subscriber for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }

        async fn deliver(&self, message: &OutgoingMessage) -> Result<(), DeliveryError> {
            let payload = String::from_utf8(message.payload.clone()).unwrap();
            self.attempts.lock().unwrap().push(payload.clone());
            let delay = *self.delay.lock().unwrap();
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let script = self
                .script
                .lock()
                .unwrap()
                .iter()
                .find(|(p, _)| *p == payload)
                .map(|(_, s)| *s)
                .unwrap_or(Script::Apply);
            match script {
                Script::Apply => {
                    self.applied.lock().unwrap().push((message.key.clone(), payload));
                    Ok(())
                }
                Script::Reject => Err(DeliveryError::Rejected(format!("cannot read {payload}"))),
                Script::Unavailable => Err(DeliveryError::Unavailable("database away".into())),
                Script::Hang => std::future::pending().await,
            }
        }

        async fn dead_letter(&self, message: &OutgoingMessage, reason: &str) -> Result<(), String> {
            if self.dead_letter_fails.load(Ordering::Acquire) {
                return Err("dead-letter table away".into());
            }
            let payload = String::from_utf8(message.payload.clone()).unwrap();
            self.dead.lock().unwrap().push((payload, reason.to_owned()));
            Ok(())
        }
    }

    fn transport(recorder: &Arc<Recorder>, config: InProcessConfig) -> InProcessTransport {
        let transport = InProcessTransport::new(config);
        transport.subscribe(recorder.clone());
        transport
    }

    #[tokio::test]
    async fn a_receipt_resolves_once_the_subscriber_applied_the_message_in_key_order() {
        let recorder = Arc::new(Recorder::default());
        *recorder.delay.lock().unwrap() = Some(Duration::from_millis(2));
        let mut publisher = transport(&recorder, InProcessConfig::default())
            .connect()
            .await
            .unwrap();
        let mut receipts = Vec::new();
        for position in 1..=40 {
            let key = format!("k{}", position % 5);
            receipts.push(publisher.send(message(&key, position)).await.unwrap());
        }
        // The first receipt resolves only after its message was applied.
        receipts.remove(0).await.unwrap();
        assert!(recorder.applied().iter().any(|(_, p)| p == "1"));
        for receipt in receipts {
            receipt.await.unwrap();
        }
        let applied = recorder.applied();
        assert_eq!(applied.len(), 40);
        for key in 0..5 {
            let key = format!("k{key}");
            let positions: Vec<i64> = applied
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, p)| p.parse().unwrap())
                .collect();
            let mut sorted = positions.clone();
            sorted.sort_unstable();
            assert_eq!(positions, sorted, "order of {key}");
        }
        publisher.close().await;
    }

    #[tokio::test]
    async fn without_a_subscriber_connecting_fails() {
        let transport = InProcessTransport::new(InProcessConfig::default());
        let error = transport.connect().await.err().expect("no subscriber");
        assert!(matches!(error, PublishError::Connect(_)), "{error}");
    }

    #[tokio::test]
    async fn an_unavailable_subscriber_fails_the_receipt_and_everything_after_it() {
        let recorder = Arc::new(Recorder::default());
        recorder.script("2", Script::Unavailable);
        let config = InProcessConfig {
            lanes: 1,
            ..InProcessConfig::default()
        };
        let mut publisher = transport(&recorder, config).connect().await.unwrap();
        let first = publisher.send(message("k", 1)).await.unwrap();
        let second = publisher.send(message("k", 2)).await.unwrap();
        let third = publisher.send(message("k", 3)).await.unwrap();
        first.await.unwrap();
        assert!(matches!(second.await, Err(PublishError::Receipt(e)) if e.contains("database away")));
        assert!(
            third.await.is_err(),
            "a later message must not overtake the failed one"
        );
        assert_eq!(recorder.applied(), [("k".to_owned(), "1".to_owned())]);
        assert!(publisher.send(message("k", 4)).await.is_err(), "broken publisher");
        publisher.close().await;
    }

    #[tokio::test]
    async fn a_rejected_message_is_redelivered_then_dead_lettered_and_acknowledged() {
        let recorder = Arc::new(Recorder::default());
        recorder.script("2", Script::Reject);
        let config = InProcessConfig {
            max_redeliveries: 2,
            ..InProcessConfig::default()
        };
        let mut publisher = transport(&recorder, config).connect().await.unwrap();
        for position in 1..=3 {
            publisher
                .send(message("k", position))
                .await
                .unwrap()
                .await
                .unwrap();
        }
        let attempts = recorder.attempts.lock().unwrap().clone();
        assert_eq!(attempts, ["1", "2", "2", "2", "3"], "1 delivery + 2 redeliveries");
        assert_eq!(
            recorder.dead.lock().unwrap().clone(),
            [("2".to_owned(), "cannot read 2".to_owned())]
        );
        let applied: Vec<_> = recorder.applied().into_iter().map(|(_, p)| p).collect();
        assert_eq!(applied, ["1", "3"], "the rest is not blocked");
        publisher.close().await;
    }

    #[tokio::test]
    async fn a_dead_letter_that_cannot_be_recorded_fails_the_receipt() {
        let recorder = Arc::new(Recorder::default());
        recorder.script("1", Script::Reject);
        recorder.dead_letter_fails.store(true, Ordering::Release);
        let config = InProcessConfig {
            max_redeliveries: 0,
            ..InProcessConfig::default()
        };
        let mut publisher = transport(&recorder, config).connect().await.unwrap();
        let receipt = publisher.send(message("k", 1)).await.unwrap();
        assert!(matches!(receipt.await, Err(PublishError::Receipt(e)) if e.contains("dead letter")));
        publisher.close().await;
    }

    #[tokio::test]
    async fn a_hung_subscriber_fails_the_receipt_after_the_delivery_timeout() {
        let recorder = Arc::new(Recorder::default());
        recorder.script("1", Script::Hang);
        let config = InProcessConfig {
            delivery_timeout: Duration::from_millis(50),
            ..InProcessConfig::default()
        };
        let mut publisher = transport(&recorder, config).connect().await.unwrap();
        let receipt = publisher.send(message("k", 1)).await.unwrap();
        assert!(matches!(receipt.await, Err(PublishError::Receipt(e)) if e.contains("within")));
        publisher.close().await;
    }

    #[tokio::test]
    async fn closing_fails_what_is_queued_instead_of_delivering_it_later() {
        let recorder = Arc::new(Recorder::default());
        *recorder.delay.lock().unwrap() = Some(Duration::from_millis(100));
        let config = InProcessConfig {
            lanes: 1,
            ..InProcessConfig::default()
        };
        let mut publisher = transport(&recorder, config).connect().await.unwrap();
        let first = publisher.send(message("k", 1)).await.unwrap();
        let second = publisher.send(message("k", 2)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await; // the first is being delivered
        publisher.close().await;
        assert!(first.await.is_ok(), "the delivery under way finishes");
        assert!(second.await.is_err(), "the queued one is not delivered");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(recorder.applied().len(), 1);
    }

    #[tokio::test]
    async fn a_dropped_publisher_stops_delivering_at_once() {
        let recorder = Arc::new(Recorder::default());
        *recorder.delay.lock().unwrap() = Some(Duration::from_millis(50));
        let config = InProcessConfig {
            lanes: 1,
            ..InProcessConfig::default()
        };
        let mut publisher = transport(&recorder, config).connect().await.unwrap();
        let mut receipts = Vec::new();
        for position in 1..=5 {
            receipts.push(publisher.send(message("k", position)).await.unwrap());
        }
        drop(publisher); // as when the relay's task is aborted
        for receipt in receipts {
            assert!(receipt.await.is_err());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(recorder.applied().is_empty());
    }
}
