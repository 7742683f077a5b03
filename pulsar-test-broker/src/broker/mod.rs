//! The broker's state (connections, topics) and the handling of each command a client sends:
//! this module routes commands, `lookup`, `producers` and `consumers` handle them.
//!
//! Everything runs under one mutex, never held across an await: a command is handled in one go
//! and its replies, and the messages it dispatches to consumers on any connection, are queued on
//! the connections' outboxes, which their connection tasks write out.

mod consumers;
mod lookup;
mod producers;

use lookup::partitioned_metadata;
pub(crate) use lookup::{authentication_refused, connected};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use pulsar::message::proto::{
    base_command::Type, BaseCommand, CommandError, CommandPong, CommandSuccess, ServerError,
};
use pulsar::message::Message;
use tokio::sync::mpsc;

use crate::faults::Faults;
use crate::topic::{full_topic_name, Topics};

/// Identifies a client connection for the broker's lifetime.
pub(crate) type ConnId = u64;

/// What a connection task is asked to do.
pub(crate) enum Outbound {
    /// Boxed: a `BaseCommand` has a field for every command, some kilobytes.
    Frame(Box<Message>),
    Close,
}

/// The queue of frames to write on a connection. Sending never blocks (the broker's lock is
/// held) and never fails: a closed connection is being cleaned up, what it misses is redelivered.
#[derive(Clone)]
pub(crate) struct Outbox(pub mpsc::UnboundedSender<Outbound>);

impl Outbox {
    pub fn send(&self, command: BaseCommand) {
        self.send_message(Message {
            command,
            payload: None,
        });
    }

    pub fn send_message(&self, message: Message) {
        let _ = self.0.send(Outbound::Frame(Box::new(message)));
    }

    pub fn close(&self) {
        let _ = self.0.send(Outbound::Close);
    }
}

/// The highest protocol version this broker answers with: the one of the `pulsar` crate's
/// protocol definitions. Clients use the lower of theirs and ours.
const PROTOCOL_VERSION: i32 = 19;
/// Pulsar's default, which clients size their batches by.
pub(crate) const MAX_MESSAGE_SIZE: usize = 5 * 1024 * 1024;
/// The only schema version: schemas are accepted and echoed, not versioned.
const SCHEMA_VERSION: [u8; 8] = 0u64.to_be_bytes();
/// Request id of the CLOSE_PRODUCER / CLOSE_CONSUMER the broker sends on its own, as Pulsar does
/// (-1), so that clients do not take it for the answer to one of their requests.
pub(crate) const BROKER_REQUEST_ID: u64 = u64::MAX;

/// The producers and consumers a connection created.
struct Connection {
    outbox: Outbox,
    /// producer id -> topic
    producers: BTreeMap<u64, String>,
    /// consumer id -> (topic, subscription)
    consumers: BTreeMap<u64, (String, String)>,
}

pub(crate) struct Broker {
    /// The URL lookups answer with: clients connect back to this broker.
    url: String,
    pub topics: Topics,
    connections: HashMap<ConnId, Connection>,
    next_conn_id: ConnId,
    next_producer_name: u64,
    pub faults: Faults,
    /// While down, new connections are refused even if they got past the listener.
    pub down: bool,
    /// The token a CONNECT must carry (method `token`); `None`: any client is accepted.
    pub required_token: Option<Vec<u8>>,
}

/// Locks the broker, going on after a panic elsewhere (a test failing in a handler must not turn
/// every later test into a poisoned-lock panic).
pub(crate) fn lock(broker: &Mutex<Broker>) -> MutexGuard<'_, Broker> {
    broker.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Broker {
    pub fn new(url: String) -> Self {
        Broker {
            url,
            topics: Topics::default(),
            connections: HashMap::new(),
            next_conn_id: 0,
            next_producer_name: 0,
            faults: Faults::default(),
            down: false,
            required_token: None,
        }
    }

    /// Registers a connection that completed its CONNECT; `None` if the broker is down.
    pub fn connect(&mut self, outbox: Outbox) -> Option<ConnId> {
        if self.down {
            return None;
        }
        self.next_conn_id += 1;
        let connection = Connection {
            outbox,
            producers: BTreeMap::new(),
            consumers: BTreeMap::new(),
        };
        self.connections.insert(self.next_conn_id, connection);
        Some(self.next_conn_id)
    }

    /// Forgets a connection: its producers go away, its consumers' unacknowledged messages go
    /// back to their subscriptions. Closing it is up to the caller.
    pub fn disconnect(&mut self, conn: ConnId) -> Option<Outbox> {
        let connection = self.connections.remove(&conn)?;
        for (producer_id, topic) in connection.producers {
            if let Some(topic) = self.topics.get_mut(&topic) {
                topic.producers.remove(&(conn, producer_id));
            }
        }
        for (consumer_id, (topic, subscription)) in connection.consumers {
            self.detach_consumer((conn, consumer_id), &topic, &subscription);
        }
        Some(connection.outbox)
    }

    pub fn connection_ids(&self) -> Vec<ConnId> {
        self.connections.keys().copied().collect()
    }

    /// Handles one command from a connection. An error closes the connection: the frame was not
    /// something a Pulsar client sends.
    pub fn handle(&mut self, conn: ConnId, message: Message) -> Result<(), String> {
        let Message { command, payload } = message;
        let Some(outbox) = self.connections.get(&conn).map(|c| c.outbox.clone()) else {
            return Err("connection already closed".into());
        };
        let Ok(kind) = Type::try_from(command.r#type) else {
            // a newer client's command: there is no way to answer it
            tracing::warn!(r#type = command.r#type, "ignoring a command of unknown type");
            return Ok(());
        };
        // every command carries its body in the field named after its type
        let missing = || format!("{kind:?} command without its body");
        match kind {
            Type::Ping => outbox.send(BaseCommand {
                r#type: Type::Pong as i32,
                pong: Some(CommandPong {}),
                ..Default::default()
            }),
            Type::Pong => {}
            Type::Connect => return Err("CONNECT on an established connection".into()),
            Type::PartitionedMetadata => {
                partitioned_metadata(&outbox, command.partition_metadata.ok_or_else(missing)?)
            }
            Type::Lookup => self.lookup(&outbox, command.lookup_topic.ok_or_else(missing)?),
            Type::Producer => self.create_producer(conn, &outbox, command.producer.ok_or_else(missing)?),
            Type::Send => {
                let payload = payload.ok_or("SEND without a payload")?;
                self.send(conn, &outbox, command.send.ok_or_else(missing)?, payload)
            }
            Type::CloseProducer => {
                self.close_producer(conn, &outbox, command.close_producer.ok_or_else(missing)?)
            }
            Type::Subscribe => self.subscribe(conn, &outbox, command.subscribe.ok_or_else(missing)?),
            Type::Flow => self.flow(conn, command.flow.ok_or_else(missing)?),
            Type::Ack => self.ack(conn, &outbox, command.ack.ok_or_else(missing)?),
            Type::RedeliverUnacknowledgedMessages => {
                let redeliver = command.redeliver_unacknowledged_messages.ok_or_else(missing)?;
                self.redeliver(conn, redeliver)
            }
            Type::Unsubscribe => self.unsubscribe(conn, &outbox, command.unsubscribe.ok_or_else(missing)?),
            Type::CloseConsumer => {
                self.close_consumer(conn, &outbox, command.close_consumer.ok_or_else(missing)?)
            }
            Type::Seek => self.seek(conn, &outbox, command.seek.ok_or_else(missing)?),
            Type::GetLastMessageId => {
                self.get_last_message_id(conn, &outbox, command.get_last_message_id.ok_or_else(missing)?)
            }
            Type::GetTopicsOfNamespace => {
                self.topics_of_namespace(&outbox, command.get_topics_of_namespace.ok_or_else(missing)?)
            }
            Type::GetSchema => self.get_schema(&outbox, command.get_schema.ok_or_else(missing)?),
            Type::GetOrCreateSchema => {
                self.get_or_create_schema(&outbox, command.get_or_create_schema.ok_or_else(missing)?)
            }
            _ => unsupported(&outbox, kind, &command),
        }
        Ok(())
    }
}

/// Commands this broker does not implement get an error instead of no answer, when they carry a
/// request id to answer to (transactions, consumer stats); the others are logged and dropped.
fn unsupported(outbox: &Outbox, kind: Type, command: &BaseCommand) {
    let request_id = [
        command.consumer_stats.as_ref().map(|c| c.request_id),
        command.new_txn.as_ref().map(|c| c.request_id),
        command.add_partition_to_txn.as_ref().map(|c| c.request_id),
        command.add_subscription_to_txn.as_ref().map(|c| c.request_id),
        command.end_txn.as_ref().map(|c| c.request_id),
        command.end_txn_on_partition.as_ref().map(|c| c.request_id),
        command.end_txn_on_subscription.as_ref().map(|c| c.request_id),
        command.tc_client_connect_request.as_ref().map(|c| c.request_id),
    ]
    .into_iter()
    .flatten()
    .next();
    tracing::warn!(command = ?kind, "unsupported command");
    if let Some(request_id) = request_id {
        outbox.send(error(
            request_id,
            ServerError::UnknownError,
            &format!("{kind:?} is not supported by the test broker"),
        ));
    }
}

fn valid_topic_name(topic: &str) -> Option<String> {
    (!topic.trim().is_empty()).then(|| full_topic_name(topic))
}

fn success(request_id: u64) -> BaseCommand {
    BaseCommand {
        r#type: Type::Success as i32,
        success: Some(CommandSuccess {
            request_id,
            schema: None,
        }),
        ..Default::default()
    }
}

fn error(request_id: u64, error: ServerError, message: &str) -> BaseCommand {
    BaseCommand {
        r#type: Type::Error as i32,
        error: Some(CommandError {
            request_id,
            error: error as i32,
            message: message.to_string(),
        }),
        ..Default::default()
    }
}
