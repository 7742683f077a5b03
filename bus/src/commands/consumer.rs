//! The command consumers: one loop per topic on a durable **Shared** subscription (the
//! seed's `sub-com-...`: any instance may run any command; each runs under an idempotency
//! key made of its id, so order across instances does not matter), from the earliest
//! message when the subscription is new, so that a command accepted before any consumer
//! existed is not lost.
//!
//! Per message, in turn:
//! - a v1 command ([`decode_envelope`], then [`Command::from_data`]): run by the
//!   [`RunCommand`]; `Done` → the outcome goes to the [`OutcomeSink`], **then** the message
//!   is acknowledged. A crash between the two redelivers it: the runner is idempotent and
//!   the first outcome is kept. `Retry` (its database is away) or a sink failure → retried
//!   in place with backoff, never acknowledged before it is done.
//! - unreadable (not JSON, not CloudEvents 1.0, an unknown type, data off its schema):
//!   published to `<topic>-dlq` with the reason as a property, a `failed` outcome recorded
//!   when its id can be read (so `GET /commands/{id}` says why), then acknowledged. Neither
//!   stops the consumer.
//! - a consumer failure (the broker went away) → subscribe again after a backoff; what was
//!   not acknowledged comes back.
//!
//! The messages of a producer batch are acknowledged together, once all of them are done
//! (one acknowledgement covers the whole batch on the broker).
//!
//! The same loop consumes the outcomes topic for `alpes serve`
//! ([`spawn_outcome_consumer`]), with another handler.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use contract::v1::commands::{decode_envelope, Command};
use futures::StreamExt;
use pulsar::consumer::{InitialPosition, Message};
use pulsar::{Consumer, ConsumerOptions, Pulsar, SubType, TokioExecutor};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{
    Backoff, CommandCounters, CommandCounts, CommandQueue, CommandToRun, Outcome, RunCommand, RunResult,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;
use uuid::Uuid;

use super::outcomes::{OutcomeMessage, OutcomeSink};
use super::producers::{Outgoing, Producers};
use super::publisher::property;
use super::topics::{dead_letter_topic, CommandSubscription};
use crate::acks::{AckTracker, Settlement};
use crate::pulsar_transport::PulsarSettings;

/// How the consumers connect and back off.
#[derive(Debug, Clone)]
pub struct CommandConsumerSettings {
    /// The broker's URL and the client's timeouts (its topic fields are not used).
    pub pulsar: PulsarSettings,
    /// Waits after a failure (broker, runner, sink), doubling up to the maximum.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Consumer names are `<prefix>-<uuid>`.
    pub consumer_name_prefix: String,
}

impl CommandConsumerSettings {
    /// The defaults, for the broker at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self::from_pulsar(PulsarSettings::new(url))
    }

    /// The defaults, with these Pulsar settings.
    pub fn from_pulsar(pulsar: PulsarSettings) -> Self {
        CommandConsumerSettings {
            pulsar,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            consumer_name_prefix: "alpes-commands".to_owned(),
        }
    }
}

/// What a topic's consumer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandConsumerState {
    Connecting,
    Consuming,
    /// The broker, the runner or the sink failed; waiting before trying again.
    BackingOff,
    Stopped,
}

/// A topic's consumer, as status endpoints show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandTopicStatus {
    pub topic: String,
    pub subscription: String,
    pub dead_letter_topic: String,
    pub state: CommandConsumerState,
    /// Messages received (redeliveries included), commands succeeded and failed (their
    /// outcome handed to the sink), messages dead-lettered.
    #[serde(flatten)]
    pub counts: CommandCounts,
    /// Whether the message in hand is being retried (the runner or the sink failed).
    pub retrying: bool,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

struct TopicStatus {
    counters: CommandCounters,
    status: Mutex<CommandTopicStatus>,
}

impl TopicStatus {
    fn new(subscription: &CommandSubscription) -> Self {
        TopicStatus {
            counters: CommandCounters::default(),
            status: Mutex::new(CommandTopicStatus {
                topic: subscription.topic.clone(),
                subscription: subscription.subscription.clone(),
                dead_letter_topic: dead_letter_topic(&subscription.topic),
                state: CommandConsumerState::Connecting,
                counts: CommandCounts::default(),
                retrying: false,
                last_error: None,
                last_error_at: None,
            }),
        }
    }

    fn update(&self, change: impl FnOnce(&mut CommandTopicStatus)) {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut status);
    }

    fn snapshot(&self) -> CommandTopicStatus {
        let mut status = self
            .status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        status.counts = self.counters.snapshot();
        status
    }
}

/// Reads the consumers' status (`GET /relay`-style endpoints). Cheap to clone.
#[derive(Clone)]
pub struct CommandConsumersHandle {
    topics: Vec<Arc<TopicStatus>>,
}

impl CommandConsumersHandle {
    /// One per topic.
    pub fn status(&self) -> Vec<CommandTopicStatus> {
        self.topics.iter().map(|topic| topic.snapshot()).collect()
    }
}

/// The running consumers.
pub struct CommandConsumers {
    handle: CommandConsumersHandle,
    stop: watch::Sender<bool>,
    joins: Vec<JoinHandle<()>>,
}

impl CommandConsumers {
    pub fn handle(&self) -> CommandConsumersHandle {
        self.handle.clone()
    }

    /// Stops after the message in hand; what is not acknowledged is redelivered later.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        for join in std::mem::take(&mut self.joins) {
            let _ = join.await;
        }
    }

    /// Stops at once, as a crash would.
    pub async fn abort(mut self) {
        for join in std::mem::take(&mut self.joins) {
            join.abort();
            let _ = join.await;
        }
    }
}

/// Dropped without [`CommandConsumers::shutdown`] (its owner crashed, or a test stands in
/// for a crash), the consumers stop at once rather than run on detached.
impl Drop for CommandConsumers {
    fn drop(&mut self) {
        for join in &self.joins {
            join.abort();
        }
    }
}

/// Starts one consumer per subscription: each command is run by `runner` and its outcome
/// handed to `sink` before the message is acknowledged (see the module documentation).
pub fn spawn_command_consumers(
    settings: CommandConsumerSettings,
    subscriptions: Vec<CommandSubscription>,
    runner: Arc<dyn RunCommand>,
    sink: Arc<dyn OutcomeSink>,
) -> CommandConsumers {
    let handler: Arc<dyn Handler> = Arc::new(CommandHandler { runner, sink });
    spawn(settings, subscriptions, handler, "command_consumer")
}

/// `alpes serve`: stores in `queue` the outcomes that other processes (`alpes tracking`)
/// publish on the outcomes topic (`CommandTopics::outcome_subscription`).
pub fn spawn_outcome_consumer(
    settings: CommandConsumerSettings,
    subscription: CommandSubscription,
    queue: CommandQueue,
) -> CommandConsumers {
    let handler: Arc<dyn Handler> = Arc::new(OutcomeHandler { queue });
    spawn(settings, vec![subscription], handler, "outcome_consumer")
}

fn spawn(
    settings: CommandConsumerSettings,
    subscriptions: Vec<CommandSubscription>,
    handler: Arc<dyn Handler>,
    span_name: &'static str,
) -> CommandConsumers {
    let (stop, stop_rx) = watch::channel(false);
    let settings = Arc::new(settings);
    let mut topics = Vec::new();
    let mut joins = Vec::new();
    for subscription in subscriptions {
        let status = Arc::new(TopicStatus::new(&subscription));
        let span = tracing::info_span!("consumer", kind = span_name, topic = %subscription.topic);
        let worker = TopicWorker {
            dead_letters: Producers::new(settings.pulsar.clone(), "alpes-dead-letters"),
            settings: settings.clone(),
            subscription,
            handler: handler.clone(),
            status: status.clone(),
            stop: stop_rx.clone(),
        };
        joins.push(tokio::spawn(worker.run().instrument(span)));
        topics.push(status);
    }
    CommandConsumers {
        handle: CommandConsumersHandle { topics },
        stop,
        joins,
    }
}

/// What handling a message came to.
enum Handled {
    Succeeded,
    Failed,
    /// The message's own fault: to the dead-letter topic.
    Unreadable(String),
    /// Not now (the runner's database, the sink): the same message again later.
    Retry(String),
}

/// What the loop does with a message's payload.
#[async_trait]
trait Handler: Send + Sync {
    async fn handle(&self, payload: &[u8]) -> Handled;
    /// After an unreadable message was dead-lettered: what else to record.
    async fn dead_lettered(&self, payload: &[u8], reason: &str) -> Result<(), String>;
}

struct CommandHandler {
    runner: Arc<dyn RunCommand>,
    sink: Arc<dyn OutcomeSink>,
}

#[async_trait]
impl Handler for CommandHandler {
    async fn handle(&self, payload: &[u8]) -> Handled {
        let envelope = match decode_envelope(payload) {
            Ok(envelope) => envelope,
            Err(error) => return Handled::Unreadable(error.to_string()),
        };
        if let Err(error) = Command::from_data(&envelope.command_type, envelope.data.clone()) {
            return Handled::Unreadable(error.to_string());
        }
        // Naming an issuer by halves is naming none: not run (as an operator's command).
        let names_issuer = envelope.issuersub.is_some() || envelope.issuerrole.is_some();
        if names_issuer && envelope.issuer().is_none() {
            return Handled::Unreadable(
                "the command names its issuer without both issuersub and issuerrole".into(),
            );
        }
        let command = CommandToRun {
            issued_by: envelope
                .issuer()
                .and_then(|issuer| serde_json::to_value(issuer).ok()),
            command_id: envelope.id,
            command_type: envelope.command_type,
            payload: envelope.data,
        };
        let outcome = match self.runner.run(&command).await {
            RunResult::Done(outcome) => outcome,
            RunResult::Retry(cause) => return Handled::Retry(cause),
        };
        if let Err(cause) = self.sink.store(&command, &outcome).await {
            return Handled::Retry(cause);
        }
        match outcome {
            Outcome::Succeeded(_) => Handled::Succeeded,
            Outcome::Failed(_) => Handled::Failed,
        }
    }

    async fn dead_lettered(&self, payload: &[u8], reason: &str) -> Result<(), String> {
        let Some(command) = readable_command(payload) else {
            return Ok(());
        };
        let problem = problem::Problem::new(
            problem::StatusCode::UNPROCESSABLE_ENTITY,
            "Unreadable command",
            "command.dead_lettered",
            reason,
        );
        let problem = serde_json::to_value(problem).map_err(|error| error.to_string())?;
        self.sink.store(&command, &Outcome::Failed(problem)).await
    }
}

/// The command an unreadable message was meant to be, when its id can be read.
fn readable_command(payload: &[u8]) -> Option<CommandToRun> {
    let value: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let command_id = value.get("id")?.as_str()?.parse::<Uuid>().ok()?;
    // Kept as far as a database can store it: a NUL character cannot be.
    let command_type = value
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("unknown")
        .replace('\0', "");
    let payload = value
        .get("data")
        .filter(|data| !contract::v1::commands::contains_nul(data))
        .cloned()
        .unwrap_or_default();
    Some(CommandToRun {
        command_id,
        command_type,
        payload,
        // Not read from a message that cannot be read: nobody acts on it.
        issued_by: None,
    })
}

struct OutcomeHandler {
    queue: CommandQueue,
}

#[async_trait]
impl Handler for OutcomeHandler {
    async fn handle(&self, payload: &[u8]) -> Handled {
        let message: OutcomeMessage = match serde_json::from_slice(payload) {
            Ok(message) => message,
            Err(error) => return Handled::Unreadable(format!("not an outcome message: {error}")),
        };
        let (command, outcome) = message.into_parts();
        if let Err(cause) = self.queue.store(&command, &outcome).await {
            return Handled::Retry(cause);
        }
        match outcome {
            Outcome::Succeeded(_) => Handled::Succeeded,
            Outcome::Failed(_) => Handled::Failed,
        }
    }

    async fn dead_lettered(&self, _payload: &[u8], _reason: &str) -> Result<(), String> {
        Ok(())
    }
}

type PulsarConsumer = Consumer<Vec<u8>, TokioExecutor>;

/// How one message went.
enum Processed {
    Done,
    Stopping,
}

struct TopicWorker {
    settings: Arc<CommandConsumerSettings>,
    subscription: CommandSubscription,
    handler: Arc<dyn Handler>,
    status: Arc<TopicStatus>,
    /// The `<topic>-dlq` producer.
    dead_letters: Producers,
    stop: watch::Receiver<bool>,
}

impl TopicWorker {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.settings.min_backoff, self.settings.max_backoff);
        while !self.stopping() {
            self.set_state(CommandConsumerState::Connecting);
            let (client, mut consumer) = match self.subscribe().await {
                Ok(subscribed) => subscribed,
                Err(error) => {
                    self.report_error(&format!("subscribing: {error}"));
                    self.pause(backoff.next_delay()).await;
                    continue;
                }
            };
            tracing::info!(subscription = %self.subscription.subscription, "consuming commands");
            self.set_state(CommandConsumerState::Consuming);
            let outcome = self.consume(&mut consumer, &mut backoff).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), consumer.close()).await;
            drop(client);
            if let Err(error) = outcome {
                self.report_error(&error);
                self.pause(backoff.next_delay()).await;
            }
        }
        self.dead_letters.close().await;
        self.set_state(CommandConsumerState::Stopped);
    }

    async fn subscribe(&self) -> Result<(Pulsar<TokioExecutor>, PulsarConsumer), pulsar::Error> {
        let client = self.settings.pulsar.client().await?;
        let consumer = client
            .consumer()
            .with_topic(&self.subscription.topic)
            .with_subscription(&self.subscription.subscription)
            .with_subscription_type(SubType::Shared)
            .with_consumer_name(format!(
                "{}-{}",
                self.settings.consumer_name_prefix,
                Uuid::now_v7()
            ))
            .with_options(
                ConsumerOptions::default()
                    .durable(true)
                    .with_initial_position(InitialPosition::Earliest),
            )
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
            self.status.counters.received.fetch_add(1, Ordering::Relaxed);
            match self.process(&message, backoff).await {
                Processed::Done => {}
                Processed::Stopping => return Ok(()),
            }
            let batch_size = message.metadata().num_messages_in_batch;
            // Processed means done (a command that failed has its outcome): acknowledged.
            let settled = acks.processed(message.message_id().clone(), batch_size, true);
            for id in settled.map(Settlement::into_ids).unwrap_or_default() {
                // A lost acknowledgement only means a redelivery, which the runner and the
                // sink take as a duplicate: logged, not retried.
                if let Err(error) = consumer.ack_with_id(&message.topic, id).await {
                    tracing::warn!(%error, "acknowledgement not sent");
                }
            }
            backoff.reset();
        }
    }

    /// Handles one message until it is done (retrying in place while the runner or the
    /// sink cannot), or a stop is requested.
    async fn process(&mut self, message: &Message<Vec<u8>>, backoff: &mut Backoff) -> Processed {
        let payload = &message.payload.data;
        let mut dead_lettered: Option<String> = None;
        loop {
            let step = match &dead_lettered {
                // Dead-lettered already: only what follows is left to retry.
                Some(reason) => self.after_dead_letter(payload, reason).await,
                None => match self.handler.handle(payload).await {
                    Handled::Succeeded => Ok(&self.status.counters.succeeded),
                    Handled::Failed => Ok(&self.status.counters.failed),
                    Handled::Retry(cause) => Err(cause),
                    Handled::Unreadable(reason) => {
                        tracing::warn!(%reason, message_id = ?message.message_id(),
                            "unreadable command message; to the dead-letter topic");
                        match self.dead_letter(message, &reason).await {
                            Ok(()) => {
                                let step = self.after_dead_letter(payload, &reason).await;
                                dead_lettered = Some(reason);
                                step
                            }
                            Err(error) => Err(error),
                        }
                    }
                },
            };
            match step {
                Ok(counter) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    self.status.update(|s| {
                        s.retrying = false;
                        s.state = CommandConsumerState::Consuming;
                    });
                    return Processed::Done;
                }
                Err(cause) => {
                    self.report_error(&cause);
                    self.status.update(|s| s.retrying = true);
                    self.pause(backoff.next_delay()).await;
                    if self.stopping() {
                        self.status.update(|s| s.retrying = false);
                        return Processed::Stopping;
                    }
                }
            }
        }
    }

    async fn after_dead_letter(
        &self,
        payload: &[u8],
        reason: &str,
    ) -> Result<&std::sync::atomic::AtomicU64, String> {
        self.handler.dead_lettered(payload, reason).await?;
        Ok(&self.status.counters.dead_lettered)
    }

    /// Publishes the message as it came to `<topic>-dlq`, with why.
    async fn dead_letter(&self, message: &Message<Vec<u8>>, reason: &str) -> Result<(), String> {
        let metadata = message.metadata();
        let mut properties: HashMap<String, String> = metadata
            .properties
            .iter()
            .map(|pair| (pair.key.clone(), pair.value.clone()))
            .collect();
        properties.insert(property::REASON.to_owned(), reason.to_owned());
        properties.insert(
            property::ORIGINAL_TOPIC.to_owned(),
            self.subscription.topic.clone(),
        );
        let id = message.message_id();
        properties.insert(
            property::ORIGINAL_MESSAGE_ID.to_owned(),
            format!(
                "{}:{}:{}:{}",
                id.ledger_id,
                id.entry_id,
                id.partition.unwrap_or(-1),
                id.batch_index.unwrap_or(-1)
            ),
        );
        let outgoing = Outgoing {
            key: metadata.partition_key.clone(),
            payload: message.payload.data.clone(),
            properties,
            event_time: metadata.event_time,
        };
        self.dead_letters
            .send(&dead_letter_topic(&self.subscription.topic), outgoing)
            .await
            .map_err(|error| format!("dead-lettering: {error}"))
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    async fn pause(&mut self, delay: Duration) {
        let _ = tokio::time::timeout(delay, stop_requested(&mut self.stop)).await;
    }

    fn set_state(&self, state: CommandConsumerState) {
        self.status.update(|s| s.state = state);
    }

    fn report_error(&self, error: &str) {
        tracing::warn!(%error, "command consumer failed; backing off");
        let now = Utc::now();
        self.status.update(|s| {
            s.state = CommandConsumerState::BackingOff;
            s.last_error = Some(error.to_owned());
            s.last_error_at = Some(now);
        });
    }
}

/// Resolves once a stop is requested; never if the [`CommandConsumers`] was dropped.
async fn stop_requested(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|&stop| stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_message_names_its_command_when_it_can() {
        let id = Uuid::now_v7();
        let payload = serde_json::json!({"id": id, "type": "alpes.command.nope.v1", "data": {"a": 1}});
        let command = readable_command(payload.to_string().as_bytes()).expect("a readable id");
        assert_eq!(command.command_id, id);
        assert_eq!(command.command_type, "alpes.command.nope.v1");
        assert_eq!(command.payload, serde_json::json!({"a": 1}));
        assert_eq!(readable_command(b"not json"), None);
        assert_eq!(readable_command(br#"{"id": "nope"}"#), None);
    }
}
