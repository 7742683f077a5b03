//! [`Producers`]: one Pulsar client and a producer per topic, made on first use and
//! reused, replaced after any failure. What publishes commands, outcomes and dead
//! letters.
//!
//! - **Shared access mode**: several processes (`alpes serve` replicas, `alpes tracking`)
//!   publish to the same topics; unlike the relay, nothing needs fencing here.
//! - **No batching**: each message gets its own receipt, and a consumer's acknowledgement
//!   never covers a message it has not handled.
//! - **A failure drops the connection** (client and producers): the next message connects
//!   anew, so a broker that came back is found again without a background task.
//! - The lock is held to connect and to queue a message, not while its receipt is awaited:
//!   messages to the same topic are in flight together.

use pulsar::producer::{Message, ProducerOptions};
use pulsar::{Producer, Pulsar, TokioExecutor};
use std::collections::HashMap;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::pulsar_transport::PulsarSettings;
use crate::transport::PublishError;

/// A message to publish.
pub(crate) struct Outgoing {
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub properties: HashMap<String, String>,
    pub event_time: Option<u64>,
}

pub(crate) struct Producers {
    settings: PulsarSettings,
    /// Producer names are `<prefix>-<uuid>`.
    name_prefix: String,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    /// Bumped on every new connection, so that a late failure drops only its own.
    generation: u64,
}

struct Connection {
    generation: u64,
    producers: HashMap<String, Producer<TokioExecutor>>,
    /// Owns the broker connection; dropped after the producers.
    client: Pulsar<TokioExecutor>,
}

/// The options of command, outcome and dead-letter producers (see the module
/// documentation).
fn producer_options() -> ProducerOptions {
    ProducerOptions {
        access_mode: Some(pulsar::proto::ProducerAccessMode::Shared as i32),
        block_queue_if_full: true,
        batch_size: None,
        ..ProducerOptions::default()
    }
}

impl Producers {
    pub fn new(settings: PulsarSettings, name_prefix: &str) -> Self {
        Producers {
            settings,
            name_prefix: name_prefix.to_owned(),
            state: Mutex::new(State::default()),
        }
    }

    /// Publishes `message` on `topic`; `Ok` once the broker has stored it.
    pub async fn send(&self, topic: &str, message: Outgoing) -> Result<(), PublishError> {
        let (generation, receipt) = {
            let mut state = self.state.lock().await;
            let generation = match self.connected(&mut state, topic).await {
                Ok(generation) => generation,
                Err(error) => {
                    state.connection = None;
                    return Err(error);
                }
            };
            let producer = state
                .connection
                .as_mut()
                .and_then(|connection| connection.producers.get_mut(topic))
                .ok_or_else(|| PublishError::Connect(format!("no producer for {topic}")))?;
            let pulsar_message = Message {
                payload: message.payload,
                properties: message.properties,
                partition_key: message.key,
                event_time: message.event_time,
                ..Message::default()
            };
            match producer.send_non_blocking(pulsar_message).await {
                Ok(receipt) => (generation, receipt),
                Err(error) => {
                    state.connection = None;
                    return Err(PublishError::Send(error.to_string()));
                }
            }
        };
        match receipt.await {
            Ok(_) => Ok(()),
            Err(error) => {
                let mut state = self.state.lock().await;
                if state.connection.as_ref().map(|c| c.generation) == Some(generation) {
                    state.connection = None;
                }
                Err(PublishError::Receipt(error.to_string()))
            }
        }
    }

    /// Connects and makes `topic`'s producer if need be; the connection's generation.
    async fn connected(&self, state: &mut State, topic: &str) -> Result<u64, PublishError> {
        if state.connection.is_none() {
            let client = self
                .settings
                .client()
                .await
                .map_err(|error| PublishError::Connect(error.to_string()))?;
            state.generation += 1;
            state.connection = Some(Connection {
                generation: state.generation,
                producers: HashMap::new(),
                client,
            });
        }
        let Some(connection) = state.connection.as_mut() else {
            return Err(PublishError::Connect("not connected".into()));
        };
        if !connection.producers.contains_key(topic) {
            let producer = connection
                .client
                .producer()
                .with_topic(topic)
                .with_name(format!("{}-{}", self.name_prefix, Uuid::now_v7()))
                .with_options(producer_options())
                .build()
                .await
                .map_err(|error| PublishError::Connect(format!("producer for {topic}: {error}")))?;
            connection.producers.insert(topic.to_owned(), producer);
        }
        Ok(connection.generation)
    }

    /// Closes the producers (bounded: the broker may be gone).
    pub async fn close(&self) {
        let connection = self.state.lock().await.connection.take();
        if let Some(mut connection) = connection {
            let close = async {
                for producer in connection.producers.values_mut() {
                    let _ = producer.close().await;
                }
            };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), close).await;
        }
    }
}
