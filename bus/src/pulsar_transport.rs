//! [`PulsarTransport`]: publishes the relay's messages to Apache Pulsar, one producer per
//! topic.
//!
//! Choices, each forced by a failure mode:
//! - **Exclusive access mode**: the broker refuses a second producer on the topic while ours
//!   is connected, a fence behind the relay's advisory lock (two relays never interleave
//!   their messages on a topic).
//! - **A unique producer name per producer** (`<prefix>-<topic>-<uuid>`): the `pulsar` crate
//!   6.9 cannot set a message's `sequence_id` and ignores the broker's `last_sequence_id`, so
//!   with a fixed name and broker-side deduplication a restarted relay's new messages would
//!   look like old ones and be dropped silently. Deduplication is the consumers' job, on the
//!   event id.
//! - **No batching**: every message gets its own receipt, so the checkpoint moves event by
//!   event, and a consumer's acknowledgement never covers events it has not seen (with
//!   batching, acknowledging one message of a batch acknowledges the whole batch).
//! - **`block_queue_if_full`**: when the client's queue is full, `send` waits instead of
//!   failing with `SlowDown`, which is the back-pressure the relay wants.
//! - **Short client retries**: the crate's own reconnection loops are kept short so that a
//!   broker that stays down surfaces as an error; the relay then backs off and reconnects,
//!   and reports it in its status.
//! - **The token is a `SecretString`**: a broker token is a credential, and
//!   [`PulsarSettings`] derives `Debug`: whatever prints the settings (a log line, a panic
//!   message) shows `[REDACTED]` in its place.

use async_trait::async_trait;
use pulsar::producer::{Message, ProducerOptions};
use pulsar::{
    Authentication, ConnectionRetryOptions, OperationRetryOptions, Producer, Pulsar, TokioExecutor,
};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

use crate::message::{EventStream, OutgoingMessage};
use crate::transport::{PublishError, Publisher, Receipt, Transport};

/// The default topic of campaign events.
pub const DEFAULT_CAMPAIGN_TOPIC: &str = "persistent://public/default/campaign-events";
/// The default topic of partner events.
pub const DEFAULT_PARTNER_TOPIC: &str = "persistent://public/default/partner-events";

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct PulsarSettings {
    /// `pulsar://host:6650`.
    pub url: String,
    pub campaign_topic: String,
    pub partner_topic: String,
    /// Producer names are `<prefix>-<campaigns|partners>-<uuid>`.
    pub producer_name_prefix: String,
    /// How long a message may wait for its receipt (resends included) before it fails.
    pub operation_timeout: Duration,
    /// How long connecting to the broker may take.
    pub connection_timeout: Duration,
    /// The token for a broker that requires token authentication (Pulsar's `token`
    /// method, usually a JWT); `None` connects without authenticating. Redacted in Debug.
    pub token: Option<SecretString>,
}

impl PulsarSettings {
    /// The defaults, for the broker at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            campaign_topic: DEFAULT_CAMPAIGN_TOPIC.to_owned(),
            partner_topic: DEFAULT_PARTNER_TOPIC.to_owned(),
            producer_name_prefix: "alpes-relay".to_owned(),
            operation_timeout: Duration::from_secs(10),
            connection_timeout: Duration::from_secs(5),
            token: None,
        }
    }

    /// The topic of a stream.
    pub fn topic(&self, stream: EventStream) -> &str {
        match stream {
            EventStream::Campaigns => &self.campaign_topic,
            EventStream::Partners => &self.partner_topic,
        }
    }

    /// A client with these settings' timeouts, short internal retries and token. Every
    /// Pulsar client of `alpes` is built here, so that none connects without the token.
    ///
    /// A broker that refuses the token (or its absence) answers the CONNECT with an
    /// AuthenticationError, which the client does not retry: the error comes back at once.
    /// The `pulsar` crate (6.9) reports it only as "fatal error when connecting to the Pulsar
    /// server", without the broker's reason (pulsar-rs issue #292): the broker's log says it.
    pub async fn client(&self) -> Result<Pulsar<TokioExecutor>, pulsar::Error> {
        let builder = Pulsar::builder(self.url.clone(), TokioExecutor)
            .with_connection_retry_options(ConnectionRetryOptions {
                min_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(1),
                max_retries: 3,
                connection_timeout: self.connection_timeout,
                ..ConnectionRetryOptions::default()
            })
            .with_operation_retry_options(OperationRetryOptions {
                operation_timeout: self.operation_timeout,
                retry_delay: Duration::from_millis(200),
                // ProducerBusy (the previous relay's producer not gone yet) is retried this
                // often, then the relay backs off and tries again.
                max_retries: Some(10),
            });
        let builder = match &self.token {
            Some(token) => builder.with_auth(Authentication {
                name: "token".to_owned(),
                data: token.expose_secret().as_bytes().to_vec(),
            }),
            None => builder,
        };
        builder.build().await
    }
}

/// Publishes to Pulsar; see the module documentation for its choices.
#[derive(Debug, Clone)]
pub struct PulsarTransport {
    settings: PulsarSettings,
}

impl PulsarTransport {
    pub fn new(settings: PulsarSettings) -> Self {
        Self { settings }
    }

    pub fn settings(&self) -> &PulsarSettings {
        &self.settings
    }
}

/// The options of the relay's producers (see the module documentation).
pub fn producer_options() -> ProducerOptions {
    ProducerOptions {
        access_mode: Some(pulsar::proto::ProducerAccessMode::Exclusive as i32),
        block_queue_if_full: true,
        batch_size: None,
        ..ProducerOptions::default()
    }
}

#[async_trait]
impl Transport for PulsarTransport {
    type Publisher = PulsarPublisher;

    #[tracing::instrument(skip_all, fields(url = %self.settings.url))]
    async fn connect(&self) -> Result<PulsarPublisher, PublishError> {
        let client = self
            .settings
            .client()
            .await
            .map_err(|error| PublishError::Connect(error.to_string()))?;
        let campaigns = self.producer(&client, EventStream::Campaigns).await?;
        let partners = self.producer(&client, EventStream::Partners).await?;
        tracing::info!("connected to Pulsar");
        Ok(PulsarPublisher {
            campaigns,
            partners,
            _client: client,
        })
    }
}

impl PulsarTransport {
    async fn producer(
        &self,
        client: &Pulsar<TokioExecutor>,
        stream: EventStream,
    ) -> Result<Producer<TokioExecutor>, PublishError> {
        let label = match stream {
            EventStream::Campaigns => "campaigns",
            EventStream::Partners => "partners",
        };
        let name = format!(
            "{}-{label}-{}",
            self.settings.producer_name_prefix,
            Uuid::now_v7()
        );
        client
            .producer()
            .with_topic(self.settings.topic(stream))
            .with_name(name)
            .with_options(producer_options())
            .build()
            .await
            .map_err(|error| {
                PublishError::Connect(format!("producer for {}: {error}", self.settings.topic(stream)))
            })
    }
}

/// The producers of one connection.
pub struct PulsarPublisher {
    campaigns: Producer<TokioExecutor>,
    partners: Producer<TokioExecutor>,
    /// Kept alive as long as the producers (it owns the connection).
    _client: Pulsar<TokioExecutor>,
}

#[async_trait]
impl Publisher for PulsarPublisher {
    async fn send(&mut self, message: OutgoingMessage) -> Result<Receipt, PublishError> {
        let producer = match message.stream {
            EventStream::Campaigns => &mut self.campaigns,
            EventStream::Partners => &mut self.partners,
        };
        let properties: HashMap<String, String> = message
            .properties
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        let pulsar_message = Message {
            payload: message.payload,
            properties,
            partition_key: Some(message.key),
            // Milliseconds since the epoch; an event recorded before 1970 cannot exist.
            event_time: u64::try_from(message.event_time.timestamp_millis()).ok(),
            ..Message::default()
        };
        let receipt = producer
            .send_non_blocking(pulsar_message)
            .await
            .map_err(|error| PublishError::Send(error.to_string()))?;
        Ok(Receipt::new(async move {
            receipt
                .await
                .map(drop)
                .map_err(|error| PublishError::Receipt(error.to_string()))
        }))
    }

    async fn close(&mut self) {
        // Bounded: closing talks to a broker that may be gone.
        let close = async {
            let _ = self.campaigns.close().await;
            let _ = self.partners.close().await;
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), close).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_does_not_show_the_token() {
        let settings = PulsarSettings {
            token: Some(SecretString::from("eyJhbGciOiJIUzI1NiJ9.s3cr3t-t0ken")),
            ..PulsarSettings::new("pulsar://127.0.0.1:6650")
        };
        let printed = format!("{settings:?} {:?}", PulsarTransport::new(settings.clone()));
        assert!(!printed.contains("s3cr3t-t0ken"), "{printed}");
        // What is printed says that there is a token, without showing it.
        assert!(printed.contains("token: Some("), "{printed}");
        assert!(printed.contains("REDACTED"), "{printed}");
    }
}
