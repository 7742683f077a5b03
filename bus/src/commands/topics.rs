//! [`CommandTopics`]: where each command type travels, where outcomes come back, and the
//! durable subscriptions the seed named (`sub-com-registrar-campaign`, ...).

use contract::v1::commands::types;

/// The seed's topic of campaign registrations.
pub const DEFAULT_REGISTER_CAMPAIGN_TOPIC: &str = "persistent://public/default/comando-registrar-campaign";
/// The seed's topic of campaign cancellations.
pub const DEFAULT_CANCEL_CAMPAIGN_TOPIC: &str = "persistent://public/default/comando-cancelar-campaign";
/// The seed's topic of partner registrations.
pub const DEFAULT_REGISTER_PARTNER_TOPIC: &str = "persistent://public/default/comando-registrar-partner";
/// The seed's topic of conversions (the tracking service's).
pub const DEFAULT_REGISTER_CONVERSION_TOPIC: &str =
    "persistent://public/default/comando-registrar-evento-conversion";
/// Where a process without the `commands` table (`alpes tracking`) sends the outcomes of
/// the commands it ran, for `alpes serve` to store.
pub const DEFAULT_OUTCOMES_TOPIC: &str = "persistent://public/default/command-outcomes";

/// The seed's subscription names, one per command topic.
pub mod subscriptions {
    pub const REGISTER_CAMPAIGN: &str = "sub-com-registrar-campaign";
    pub const CANCEL_CAMPAIGN: &str = "sub-com-cancelar-campaign";
    pub const REGISTER_PARTNER: &str = "sub-com-registrar-partner";
    pub const REGISTER_CONVERSION: &str = "sub-com-registrar-evento-conversion";
    /// `alpes serve`'s subscription to the outcomes topic.
    pub const OUTCOMES: &str = "alpes-serve-outcomes";
}

/// A topic and the durable Shared subscription consumed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSubscription {
    pub topic: String,
    pub subscription: String,
}

impl CommandSubscription {
    pub fn new(topic: impl Into<String>, subscription: impl Into<String>) -> Self {
        CommandSubscription {
            topic: topic.into(),
            subscription: subscription.into(),
        }
    }
}

/// The command topics (configurable; the seed's names by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTopics {
    pub register_campaign: String,
    pub cancel_campaign: String,
    pub register_partner: String,
    pub register_conversion: String,
    pub outcomes: String,
}

impl Default for CommandTopics {
    fn default() -> Self {
        CommandTopics {
            register_campaign: DEFAULT_REGISTER_CAMPAIGN_TOPIC.to_owned(),
            cancel_campaign: DEFAULT_CANCEL_CAMPAIGN_TOPIC.to_owned(),
            register_partner: DEFAULT_REGISTER_PARTNER_TOPIC.to_owned(),
            register_conversion: DEFAULT_REGISTER_CONVERSION_TOPIC.to_owned(),
            outcomes: DEFAULT_OUTCOMES_TOPIC.to_owned(),
        }
    }
}

impl CommandTopics {
    /// The topic of a command type; `None` for a type this version does not know.
    pub fn topic(&self, command_type: &str) -> Option<&str> {
        match command_type {
            types::REGISTER_CAMPAIGN => Some(&self.register_campaign),
            types::CANCEL_CAMPAIGN => Some(&self.cancel_campaign),
            types::REGISTER_PARTNER => Some(&self.register_partner),
            types::REGISTER_CONVERSION => Some(&self.register_conversion),
            _ => None,
        }
    }

    /// What `alpes serve` consumes: the campaign and partner commands.
    pub fn serve_subscriptions(&self) -> Vec<CommandSubscription> {
        vec![
            CommandSubscription::new(&self.register_campaign, subscriptions::REGISTER_CAMPAIGN),
            CommandSubscription::new(&self.cancel_campaign, subscriptions::CANCEL_CAMPAIGN),
            CommandSubscription::new(&self.register_partner, subscriptions::REGISTER_PARTNER),
        ]
    }

    /// What `alpes tracking` consumes: the conversion commands.
    pub fn tracking_subscriptions(&self) -> Vec<CommandSubscription> {
        vec![CommandSubscription::new(
            &self.register_conversion,
            subscriptions::REGISTER_CONVERSION,
        )]
    }

    /// `alpes serve`'s subscription to the outcomes of commands run elsewhere.
    pub fn outcome_subscription(&self) -> CommandSubscription {
        CommandSubscription::new(&self.outcomes, subscriptions::OUTCOMES)
    }
}

/// Where the messages of `topic` that cannot be read go: `<topic>-dlq`.
pub fn dead_letter_topic(topic: &str) -> String {
    format!("{topic}-dlq")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_type_has_a_topic() {
        let topics = CommandTopics::default();
        for command_type in types::ALL {
            assert!(topics.topic(command_type).is_some(), "{command_type}");
        }
        assert_eq!(topics.topic("alpes.command.nope.v1"), None);
        assert_eq!(
            dead_letter_topic(&topics.register_partner),
            "persistent://public/default/comando-registrar-partner-dlq"
        );
    }
}
