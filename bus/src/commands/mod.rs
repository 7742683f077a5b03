//! The seed front door's commands on a broker: [`PublishCommand`], what hands an
//! accepted command to its topic (`comando-registrar-campaign`, ...).
//!
//! Without a broker the commands go through the embedded command queue instead
//! (`store::CommandWorker`), and nothing here is used.

use async_trait::async_trait;
use contract::v1::commands::CommandMessage;

use crate::transport::PublishError;

/// Hands a command message to the broker.
#[async_trait]
pub trait PublishCommand: Send + Sync {
    /// Publishes the message on its command type's topic, keyed by its `subject`; `Ok`
    /// once the broker has confirmed it (its receipt).
    async fn publish(&self, message: &CommandMessage<serde_json::Value>) -> Result<(), PublishError>;
}
