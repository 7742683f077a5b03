//! Outcomes: where a consumer hands what became of a command ([`OutcomeSink`]).
//!
//! - `alpes serve` stores them in its `commands` table ([`store::CommandQueue`] is a sink).
//! - `alpes tracking` has no such table: [`PublishOutcomes`] sends each outcome to the
//!   outcomes topic as an [`OutcomeMessage`], keyed by the command id, and `alpes serve`'s
//!   outcomes consumer (`spawn_outcome_consumer`) stores it there. `GET /commands/{id}` so
//!   knows the outcome of every command, whichever process ran it.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::{CommandQueue, CommandToRun, Outcome};
use uuid::Uuid;

use super::producers::{Outgoing, Producers};
use super::publisher::property;
use crate::pulsar_transport::PulsarSettings;

/// Keeps a command's outcome, durably, before its message is acknowledged.
#[async_trait]
pub trait OutcomeSink: Send + Sync {
    /// `Ok` once the outcome is stored (or an earlier one was kept); an `Err` is retried.
    async fn store(&self, command: &CommandToRun, outcome: &Outcome) -> Result<(), String>;
}

/// `alpes serve`: the `commands` table, which keeps the first outcome.
#[async_trait]
impl OutcomeSink for CommandQueue {
    async fn store(&self, command: &CommandToRun, outcome: &Outcome) -> Result<(), String> {
        self.complete(command, outcome)
            .await
            .map(drop)
            .map_err(|error| format!("storing the outcome: {error}"))
    }
}

/// How a command ended, on the outcomes topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeStatus {
    Succeeded,
    Failed,
}

/// An outcome message: JSON on the outcomes topic, keyed by `command_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeMessage {
    pub command_id: Uuid,
    pub command_type: String,
    /// The command (its CloudEvent's `data`), so that the row can be made if `alpes serve`
    /// never saw the command.
    pub payload: serde_json::Value,
    pub status: OutcomeStatus,
    /// Succeeded: the answer; failed: the RFC 9457 problem.
    pub result: serde_json::Value,
}

impl OutcomeMessage {
    pub fn new(command: &CommandToRun, outcome: &Outcome) -> Self {
        let (status, result) = match outcome {
            Outcome::Succeeded(answer) => (OutcomeStatus::Succeeded, answer.clone()),
            Outcome::Failed(problem) => (OutcomeStatus::Failed, problem.clone()),
        };
        OutcomeMessage {
            command_id: command.command_id,
            command_type: command.command_type.clone(),
            payload: command.payload.clone(),
            status,
            result,
        }
    }

    /// The command and its outcome again.
    pub fn into_parts(self) -> (CommandToRun, Outcome) {
        let outcome = match self.status {
            OutcomeStatus::Succeeded => Outcome::Succeeded(self.result),
            OutcomeStatus::Failed => Outcome::Failed(self.result),
        };
        let command = CommandToRun {
            command_id: self.command_id,
            command_type: self.command_type,
            payload: self.payload,
            // The accepting process stored who issued it; an outcome does not change it.
            issued_by: None,
        };
        (command, outcome)
    }
}

/// `alpes tracking`: publishes each outcome to the outcomes topic (`Ok` after the
/// broker's receipt).
pub struct PublishOutcomes {
    topic: String,
    producers: Producers,
}

impl PublishOutcomes {
    /// Connects on the first outcome.
    pub fn new(settings: PulsarSettings, topic: impl Into<String>) -> Self {
        PublishOutcomes {
            topic: topic.into(),
            producers: Producers::new(settings, "alpes-outcomes"),
        }
    }

    /// Closes the producer (bounded).
    pub async fn close(&self) {
        self.producers.close().await;
    }
}

#[async_trait]
impl OutcomeSink for PublishOutcomes {
    async fn store(&self, command: &CommandToRun, outcome: &Outcome) -> Result<(), String> {
        let message = OutcomeMessage::new(command, outcome);
        let payload = serde_json::to_vec(&message).map_err(|error| error.to_string())?;
        let status = match message.status {
            OutcomeStatus::Succeeded => "succeeded",
            OutcomeStatus::Failed => "failed",
        };
        let properties = HashMap::from([
            (property::COMMAND_ID.to_owned(), command.command_id.to_string()),
            (property::COMMAND_TYPE.to_owned(), command.command_type.clone()),
            (property::STATUS.to_owned(), status.to_owned()),
        ]);
        let outgoing = Outgoing {
            key: Some(command.command_id.to_string()),
            payload,
            properties,
            event_time: None,
        };
        self.producers
            .send(&self.topic, outgoing)
            .await
            .map_err(|error| format!("publishing the outcome: {error}"))
    }
}
