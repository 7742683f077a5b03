//! The consumer: feeds the view from the Pulsar topics, one loop per topic.
//!
//! Each topic has its own consumer on the durable Key_Shared subscription (instances of the
//! service share the keys, each aggregate's events going to one of them), starting from the
//! earliest message when the subscription is new so the view sees every campaign's history.
//! A loop per topic rather than one multi-topic consumer: the `pulsar` crate's multi-topic
//! consumer drops a topic that fails and reports nothing, whereas a single-topic consumer's
//! failure ends its stream, and the loop then subscribes again after a backoff.
//!
//! Per message:
//! - it decodes as a v1 event and is applied (or was already: a duplicate): acknowledged;
//! - it does not decode, or the database refuses it for good: negatively acknowledged. The
//!   broker redelivers it; after `max_redeliveries` the crate's `DeadLetterPolicy` moves it
//!   to the dead-letter topic. Other messages keep flowing meanwhile: one bad message never
//!   blocks the rest.
//! - the database is unreachable: retried in place with backoff (never dead-lettered: the
//!   message is fine, the database will be back).
//!
//! Batched messages are settled together (see [`crate::acks`]).
//!
//! What a message's payload does to the view ([`handle`]: decode, apply, classify the
//! failure) is shared with the in-process feed ([`crate::in_process`]); only what happens
//! to a failed message differs (here negative acknowledgements and a dead-letter topic).

use chrono::{DateTime, Utc};
use futures::StreamExt;
use observability::metrics::{TRACKING_APPLIED, TRACKING_DUPLICATES, TRACKING_RECEIVED, TRACKING_REJECTED};
use observability::TraceContext;
use pulsar::consumer::{DeadLetterPolicy, InitialPosition, Message};
use pulsar::{Consumer, ConsumerOptions, Pulsar, SubType, TokioExecutor};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use store::{Backoff, DbFault};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;
use uuid::Uuid;

use crate::config::TrackingConfig;
use crate::storage::TrackingStore;
use crate::view;
use bus::acks::{AckTracker, Settlement};

/// What a topic's consumer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerState {
    Connecting,
    Consuming,
    /// The broker or the database failed; waiting before trying again.
    BackingOff,
    Stopped,
}

/// A topic consumer's progress since the process started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicProgress {
    pub topic: String,
    pub state: ConsumerState,
    /// Messages received (redeliveries included).
    pub received: u64,
    /// Messages refused (undecodable or refused by the database), each redelivered until
    /// dead-lettered.
    pub rejected: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// Reads the consumers' progress.
#[derive(Clone)]
pub struct ConsumerHandle {
    topics: Vec<watch::Receiver<TopicProgress>>,
}

impl ConsumerHandle {
    pub(crate) fn new(topics: Vec<watch::Receiver<TopicProgress>>) -> Self {
        Self { topics }
    }

    pub fn progress(&self) -> Vec<TopicProgress> {
        self.topics.iter().map(|topic| topic.borrow().clone()).collect()
    }
}

/// The running consumers.
pub struct ConsumerTask {
    handle: ConsumerHandle,
    stop: watch::Sender<bool>,
    joins: Vec<JoinHandle<()>>,
}

impl ConsumerTask {
    pub fn handle(&self) -> ConsumerHandle {
        self.handle.clone()
    }

    /// Stops after the message in hand; unacknowledged messages are redelivered later.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        for join in self.joins {
            let _ = join.await;
        }
    }

    /// Stops at once, as a crash would.
    pub async fn abort(self) {
        for join in self.joins {
            join.abort();
            let _ = join.await;
        }
    }
}

/// Starts one consumer per topic.
pub(crate) fn spawn(store: Arc<dyn TrackingStore>, config: Arc<TrackingConfig>) -> ConsumerTask {
    let (stop, stop_rx) = watch::channel(false);
    let mut receivers = Vec::new();
    let mut joins = Vec::new();
    for topic in config.topics() {
        let (progress, receiver) = watch::channel(TopicProgress::new(topic, ConsumerState::Connecting));
        let worker = TopicWorker {
            store: store.clone(),
            config: config.clone(),
            topic: topic.to_owned(),
            progress,
            stop: stop_rx.clone(),
        };
        let span = tracing::info_span!("tracking_consumer", topic = %topic);
        joins.push(tokio::spawn(worker.run().instrument(span)));
        receivers.push(receiver);
    }
    ConsumerTask {
        handle: ConsumerHandle { topics: receivers },
        stop,
        joins,
    }
}

impl TopicProgress {
    pub(crate) fn new(topic: &str, state: ConsumerState) -> Self {
        Self {
            topic: topic.to_owned(),
            state,
            received: 0,
            rejected: 0,
            last_error: None,
            last_error_at: None,
        }
    }
}

/// What a message's payload did.
pub(crate) enum Handled {
    /// Applied, or recognised as applied before.
    Applied,
    /// The message's own fault (it does not decode as a v1 event, or the database refuses
    /// what it carries): retrying the same message cannot help.
    Rejected(String),
    /// The database failed: the message is fine and will go through later.
    Unavailable(String),
}

/// Decodes a payload as a v1 integration event and applies it to the view, counting it
/// under `consumer` in the tracking metrics. The work is logged in the trace of the
/// request that caused the event (its `traceparent`), so one trace id follows it from
/// the HTTP call to this record.
pub(crate) async fn handle(
    store: &dyn TrackingStore,
    subscription: &str,
    consumer: &str,
    payload: &[u8],
) -> Handled {
    let counted =
        |name: &'static str| metrics::counter!(name, "consumer" => consumer.to_owned()).increment(1);
    counted(TRACKING_RECEIVED);
    let event = match contract::v1::decode(payload) {
        Ok(event) => event,
        Err(error) => {
            counted(TRACKING_REJECTED);
            return Handled::Rejected(format!("cannot decode: {error}"));
        }
    };
    let trace = TraceContext::continued(event.traceparent.as_deref());
    let span = tracing::info_span!("tracking_event", event_id = %event.id, event_type = %event.event_type,
        subject = %event.subject, trace_id = %trace.trace_id());
    let applied = view::apply_to(store, subscription, &event)
        .instrument(span.clone())
        .await;
    match applied {
        Ok(applied) => {
            let _entered = span.enter();
            match applied {
                view::Applied::Applied => {
                    counted(TRACKING_APPLIED);
                    tracing::info!("event applied to the tracking view");
                }
                view::Applied::Duplicate => counted(TRACKING_DUPLICATES),
            }
            Handled::Applied
        }
        // The event carries what the database refuses: retrying cannot help, so it goes
        // the redeliver-then-dead-letter way. Any other error (the database down,
        // read-only during a failover, a missing table after a bad deploy) is retried
        // until it goes through: dead-lettering a good event would leave the view wrong.
        Err(error) if DbFault::of(&error).is_the_datas() => {
            counted(TRACKING_REJECTED);
            Handled::Rejected(format!("event {} refused by the database: {error}", event.id))
        }
        Err(error) => Handled::Unavailable(format!("database: {error}")),
    }
}

/// How one message went.
enum Processed {
    Done,
    Rejected,
    Stopping,
}

struct TopicWorker {
    store: Arc<dyn TrackingStore>,
    config: Arc<TrackingConfig>,
    topic: String,
    progress: watch::Sender<TopicProgress>,
    stop: watch::Receiver<bool>,
}

type PulsarConsumer = Consumer<Vec<u8>, TokioExecutor>;

impl TopicWorker {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.config.min_backoff, self.config.max_backoff);
        while !self.stopping() {
            self.set_state(ConsumerState::Connecting);
            let (client, mut consumer) = match self.subscribe().await {
                Ok(subscribed) => subscribed,
                Err(error) => {
                    self.report_error(&format!("subscribing: {error}"));
                    self.pause(backoff.next_delay()).await;
                    continue;
                }
            };
            tracing::info!(subscription = %self.config.subscription, "consuming");
            self.set_state(ConsumerState::Consuming);
            let outcome = self.consume(&mut consumer, &mut backoff).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), consumer.close()).await;
            drop(client);
            if let Err(error) = outcome {
                self.report_error(&error);
                self.pause(backoff.next_delay()).await;
            }
        }
        self.set_state(ConsumerState::Stopped);
    }

    async fn subscribe(&self) -> Result<(Pulsar<TokioExecutor>, PulsarConsumer), pulsar::Error> {
        // The same client, timeouts and short retries as every Pulsar client of ours.
        let client = self.config.pulsar_settings().client().await?;
        let consumer = client
            .consumer()
            .with_topic(&self.topic)
            .with_subscription(&self.config.subscription)
            .with_subscription_type(SubType::KeyShared)
            .with_consumer_name(format!("tracking-{}", Uuid::now_v7()))
            .with_options(
                ConsumerOptions::default()
                    .durable(true)
                    .with_initial_position(InitialPosition::Earliest),
            )
            .with_dead_letter_policy(DeadLetterPolicy {
                max_redeliver_count: self.config.max_redeliveries,
                dead_letter_topic: self.config.dead_letter_topic.clone(),
            })
            .build()
            .await?;
        Ok((client, consumer))
    }

    /// Consumes until a stop (`Ok`) or a consumer failure (`Err`: subscribe again).
    async fn consume(&mut self, consumer: &mut PulsarConsumer, backoff: &mut Backoff) -> Result<(), String> {
        let mut acks = AckTracker::default();
        loop {
            let next = tokio::select! {
                biased;
                _ = stop_requested(&mut self.stop) => return Ok(()),
                next = consumer.next() => next,
            };
            let message = match next {
                None => return Err("the consumer's stream ended".to_owned()),
                Some(Err(error)) => return Err(format!("consuming: {error}")),
                Some(Ok(message)) => message,
            };
            self.progress.send_modify(|p| p.received += 1);
            let ok = match self.process(&message, backoff).await {
                Processed::Done => true,
                Processed::Rejected => false,
                Processed::Stopping => return Ok(()),
            };
            let batch_size = message.metadata().num_messages_in_batch;
            if let Some(settlement) = acks.processed(message.message_id().clone(), batch_size, ok) {
                // The message's own topic: on a partitioned topic that is the partition
                // (`…-partition-N`), the only name the consumer acknowledges under.
                settle(consumer, &message.topic, settlement).await;
            }
            backoff.reset();
        }
    }

    /// Decodes and applies one message; retries in place while the database is away.
    async fn process(&mut self, message: &Message<Vec<u8>>, backoff: &mut Backoff) -> Processed {
        loop {
            match handle(
                &*self.store,
                &self.config.subscription,
                &self.topic,
                &message.payload.data,
            )
            .await
            {
                Handled::Applied => {
                    self.set_state(ConsumerState::Consuming);
                    return Processed::Done;
                }
                Handled::Unavailable(error) => {
                    self.report_error(&error);
                    self.pause(backoff.next_delay()).await;
                    if self.stopping() {
                        return Processed::Stopping;
                    }
                }
                Handled::Rejected(reason) => {
                    tracing::warn!(%reason, message_id = ?message.message_id(),
                        "cannot process a message; it is redelivered, then dead-lettered");
                    self.progress.send_modify(|p| p.rejected += 1);
                    return Processed::Rejected;
                }
            }
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn pause(&mut self, delay: Duration) {
        let _ = tokio::time::timeout(delay, stop_requested(&mut self.stop)).await;
    }

    fn set_state(&self, state: ConsumerState) {
        set_state(&self.progress, state);
    }

    fn report_error(&self, error: &str) {
        tracing::warn!(%error, "tracking consumer failed; backing off");
        record_error(&self.progress, error);
    }
}

/// A consumer's new state (watchers are woken only when it changes). Shared by the
/// Pulsar consumers and the in-process subscriber.
pub(crate) fn set_state(progress: &watch::Sender<TopicProgress>, state: ConsumerState) {
    progress.send_if_modified(|p| {
        let changed = p.state != state;
        p.state = state;
        changed
    });
}

/// A consumer failed and backs off: what `GET /tracking/status` shows of it.
pub(crate) fn record_error(progress: &watch::Sender<TopicProgress>, error: &str) {
    let now = Utc::now();
    progress.send_modify(|p| {
        p.state = ConsumerState::BackingOff;
        p.last_error = Some(error.to_owned());
        p.last_error_at = Some(now);
    });
}

/// Tells the broker. A lost acknowledgement only means a redelivery, which is a duplicate
/// the view ignores, so failures are logged and not retried.
async fn settle(consumer: &mut PulsarConsumer, topic: &str, settlement: Settlement) {
    match settlement {
        Settlement::Ack(ids) => {
            for id in ids {
                if let Err(error) = consumer.ack_with_id(topic, id).await {
                    tracing::warn!(%error, "acknowledgement not sent");
                }
            }
        }
        Settlement::Nack(ids) => {
            for id in ids {
                if let Err(error) = consumer.nack_with_id(topic, id).await {
                    tracing::warn!(%error, "negative acknowledgement not sent");
                }
            }
        }
    }
}

/// Resolves once a stop is requested; never if the [`ConsumerTask`] was dropped (detached).
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}
