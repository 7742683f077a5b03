//! [`TrackingConfig`]: where the tracking service reads its events from.

use secrecy::SecretString;
use std::time::Duration;

/// The default address of `alpes tracking` (the seed's tracking service's port).
pub const DEFAULT_BIND: &str = "127.0.0.1:8003";
/// The durable subscription the service consumes on.
pub const DEFAULT_SUBSCRIPTION: &str = "tracking";
/// Where messages it cannot process end up.
pub const DEFAULT_DEAD_LETTER_TOPIC: &str = "persistent://public/default/tracking-dead-letters";

#[derive(Debug, Clone)]
pub struct TrackingConfig {
    /// `pulsar://host:6650`.
    pub pulsar_url: String,
    pub campaign_topic: String,
    pub partner_topic: String,
    /// Durable Key_Shared subscription name: instances sharing it share the work, each
    /// aggregate's events going to one of them.
    pub subscription: String,
    pub dead_letter_topic: String,
    /// A message that fails this many times more (bad payload, unknown type or version)
    /// goes to the dead-letter topic.
    pub max_redeliveries: usize,
    /// Waits after a failure (broker or database), doubling up to the maximum.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// The Pulsar client's operation timeout.
    pub operation_timeout: Duration,
    pub connection_timeout: Duration,
    /// The token for a broker that requires token authentication; `None` connects
    /// without authenticating. Redacted in Debug.
    pub token: Option<SecretString>,
}

impl TrackingConfig {
    /// The defaults, for the broker at `pulsar_url`.
    pub fn new(pulsar_url: impl Into<String>) -> Self {
        Self {
            pulsar_url: pulsar_url.into(),
            campaign_topic: bus::DEFAULT_CAMPAIGN_TOPIC.to_owned(),
            partner_topic: bus::DEFAULT_PARTNER_TOPIC.to_owned(),
            subscription: DEFAULT_SUBSCRIPTION.to_owned(),
            dead_letter_topic: DEFAULT_DEAD_LETTER_TOPIC.to_owned(),
            max_redeliveries: 3,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            operation_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(5),
            token: None,
        }
    }

    /// The settings every Pulsar client of the service is built with (the events'
    /// consumers, the conversion commands' consumers and their outcomes' producers): this
    /// broker, token and timeouts, so that none of them connects differently.
    pub fn pulsar_settings(&self) -> bus::PulsarSettings {
        bus::PulsarSettings {
            campaign_topic: self.campaign_topic.clone(),
            partner_topic: self.partner_topic.clone(),
            connection_timeout: self.connection_timeout,
            operation_timeout: self.operation_timeout,
            token: self.token.clone(),
            ..bus::PulsarSettings::new(self.pulsar_url.clone())
        }
    }

    /// The topics consumed.
    pub fn topics(&self) -> [&str; 2] {
        [&self.campaign_topic, &self.partner_topic]
    }
}
