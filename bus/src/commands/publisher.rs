//! [`PulsarCommands`]: the front door's [`PublishCommand`] on Pulsar: each command on its
//! type's topic, keyed by its subject, as a CloudEvents JSON message.

use async_trait::async_trait;
use contract::v1::commands::CommandMessage;
use std::collections::HashMap;

use super::producers::{Outgoing, Producers};
use super::topics::CommandTopics;
use super::PublishCommand;
use crate::pulsar_transport::PulsarSettings;
use crate::transport::PublishError;

/// Names of a command message's properties (beside the relay's `schema_version`).
pub mod property {
    /// The command's id (= the CloudEvent `id`).
    pub const COMMAND_ID: &str = "command_id";
    /// The CloudEvent `type`, e.g. `alpes.command.register-campaign.v1`.
    pub const COMMAND_TYPE: &str = "command_type";
    pub use crate::message::property::SCHEMA_VERSION;
    /// A dead letter's: why it could not be read.
    pub const REASON: &str = "reason";
    /// A dead letter's: the topic it was consumed from.
    pub const ORIGINAL_TOPIC: &str = "original_topic";
    /// A dead letter's: its id there.
    pub const ORIGINAL_MESSAGE_ID: &str = "original_message_id";
    /// An outcome message's status: `succeeded` or `failed`.
    pub const STATUS: &str = "status";
}

/// Publishes commands to their topics; cheap to share (`Arc`), safe to call concurrently.
pub struct PulsarCommands {
    topics: CommandTopics,
    producers: Producers,
}

impl PulsarCommands {
    /// Connects on the first publication (a broker that is down now fails publications,
    /// not the start).
    pub fn new(settings: PulsarSettings, topics: CommandTopics) -> Self {
        PulsarCommands {
            topics,
            producers: Producers::new(settings, "alpes-commands"),
        }
    }

    pub fn topics(&self) -> &CommandTopics {
        &self.topics
    }

    /// Closes the producers (bounded).
    pub async fn close(&self) {
        self.producers.close().await;
    }
}

#[async_trait]
impl PublishCommand for PulsarCommands {
    #[tracing::instrument(skip_all, fields(command_id = %message.id, command_type = %message.command_type))]
    async fn publish(&self, message: &CommandMessage<serde_json::Value>) -> Result<(), PublishError> {
        let topic = self.topics.topic(&message.command_type).ok_or_else(|| {
            PublishError::Send(format!("no topic for command type {:?}", message.command_type))
        })?;
        let payload = serde_json::to_vec(message).map_err(|error| PublishError::Send(error.to_string()))?;
        let properties = HashMap::from([
            (property::COMMAND_ID.to_owned(), message.id.to_string()),
            (property::COMMAND_TYPE.to_owned(), message.command_type.clone()),
            (
                property::SCHEMA_VERSION.to_owned(),
                contract::v1::SCHEMA_VERSION.to_owned(),
            ),
        ]);
        let outgoing = Outgoing {
            key: message.subject.clone(),
            payload,
            properties,
            event_time: u64::try_from(message.time.timestamp_millis()).ok(),
        };
        let result = self.producers.send(topic, outgoing).await;
        if let Err(error) = &result {
            tracing::warn!(%error, topic, "command not published");
        }
        result
    }
}
