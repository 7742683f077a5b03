//! The conversion-command consumer of `alpes tracking`: runs the seed front door's
//! conversion commands (`comando-registrar-evento-conversion`, durable Shared
//! subscription `sub-com-registrar-evento-conversion`) with [`ConversionCommands`], as
//! `POST /tracking/conversions` would.
//!
//! The tracking database has no `commands` table, so each outcome is published to the
//! outcomes topic (`bus::commands::PublishOutcomes`), where `alpes serve`'s outcomes
//! consumer stores it for `GET /commands/{id}`; the command message is acknowledged only
//! after the broker's receipt of its outcome. The loop itself (dead letters, retries,
//! acknowledgements) is the bus's (`bus::commands::spawn_command_consumers`).

use bus::commands::{
    spawn_command_consumers, CommandConsumerSettings, CommandConsumers, CommandTopics, PublishOutcomes,
};
use std::sync::Arc;

use crate::commands::ConversionCommands;

/// Starts consuming the conversion commands of `topics` (its `register_conversion`
/// topic), the outcomes to its `outcomes` topic.
pub fn spawn_conversion_consumer(
    runner: ConversionCommands,
    settings: CommandConsumerSettings,
    topics: &CommandTopics,
) -> CommandConsumers {
    let sink = PublishOutcomes::new(settings.pulsar.clone(), topics.outcomes.clone());
    spawn_command_consumers(
        settings,
        topics.tracking_subscriptions(),
        Arc::new(runner),
        Arc::new(sink),
    )
}
