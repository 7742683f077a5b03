//! The seed front door's commands on a broker.
//!
//! - [`PublishCommand`]: what hands an accepted command to its topic
//!   (`comando-registrar-campaign`, ...); [`PulsarCommands`] on Pulsar.
//! - [`spawn_command_consumers`]: the consumers that run them (`alpes serve`: campaigns
//!   and partners; `alpes tracking`: conversions) on the seed's durable Shared
//!   subscriptions, each outcome handed to an [`OutcomeSink`] before the acknowledgement,
//!   unreadable messages to `<topic>-dlq`.
//! - [`OutcomeSink`]: the `commands` table ([`store::CommandQueue`]), or the outcomes topic
//!   ([`PublishOutcomes`]) for a process without that table, whose outcomes
//!   [`spawn_outcome_consumer`] stores in `alpes serve`'s.
//! - [`CommandTopics`]: the topics and subscriptions, the seed's names by default.
//!
//! ```text
//!  POST /crear-campaign ─> PulsarCommands ─> comando-registrar-campaign ─┐ sub-com-registrar-campaign
//!                                                                       (Shared)
//!            alpes serve: spawn_command_consumers(runner) ──> CommandQueue::complete ──> ack
//!  POST /registrar-evento ─> comando-registrar-evento-conversion ─┐
//!            alpes tracking: spawn_command_consumers(ConversionCommands)
//!                 ──> PublishOutcomes ──> command-outcomes ──> spawn_outcome_consumer
//!                                                              (alpes serve) ──> CommandQueue
//! ```
//!
//! Without a broker the commands go through the embedded command queue instead
//! (`store::CommandWorker`), and nothing here is used.

use async_trait::async_trait;
use contract::v1::commands::CommandMessage;

use crate::transport::PublishError;

mod consumer;
mod outcomes;
mod producers;
mod publisher;
mod topics;

pub use consumer::{
    spawn_command_consumers, spawn_outcome_consumer, CommandConsumerSettings, CommandConsumerState,
    CommandConsumers, CommandConsumersHandle, CommandTopicStatus,
};
pub use outcomes::{OutcomeMessage, OutcomeSink, OutcomeStatus, PublishOutcomes};
pub use publisher::{property, PulsarCommands};
pub use topics::{
    dead_letter_topic, subscriptions, CommandSubscription, CommandTopics, DEFAULT_CANCEL_CAMPAIGN_TOPIC,
    DEFAULT_OUTCOMES_TOPIC, DEFAULT_REGISTER_CAMPAIGN_TOPIC, DEFAULT_REGISTER_CONVERSION_TOPIC,
    DEFAULT_REGISTER_PARTNER_TOPIC,
};

/// Hands a command message to the broker.
#[async_trait]
pub trait PublishCommand: Send + Sync {
    /// Publishes the message on its command type's topic, keyed by its `subject`; `Ok`
    /// once the broker has confirmed it (its receipt).
    async fn publish(&self, message: &CommandMessage<serde_json::Value>) -> Result<(), PublishError>;
}
