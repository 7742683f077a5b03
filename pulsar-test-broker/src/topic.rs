//! The topic log: what producers appended, in order, plus the producers, subscriptions and
//! schema attached to a topic. Also the public views of stored messages that tests read back.

use std::collections::{BTreeMap, HashMap};

use prost::Message as _;
use pulsar::message::proto::{
    CompressionType, MessageIdData, MessageMetadata, Schema, SingleMessageMetadata,
};
use pulsar::message::Payload;

use crate::broker::ConnId;
use crate::subscription::Subscription;

/// Message id of a stored message: `ledger_id` is per topic, `entry_id` the index in its log.
///
/// A batch is one entry: its messages share the entry id and differ by `batch_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId {
    pub ledger_id: u64,
    pub entry_id: u64,
    /// Index in the batch, `None` for an entry that is not a batch.
    pub batch_index: Option<u32>,
}

impl MessageId {
    /// Whether a client-side message id (e.g. `pulsar::consumer::Message::message_id()`)
    /// designates this message.
    pub fn matches(&self, id: &MessageIdData) -> bool {
        let batch_index = id.batch_index.and_then(|index| u32::try_from(index).ok());
        id.ledger_id == self.ledger_id && id.entry_id == self.entry_id && batch_index == self.batch_index
    }
}

/// One entry of a topic log as the producer sent it: a single message or a whole batch.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEntry {
    pub id: MessageId,
    /// The entry's metadata (for a batch: the envelope, `num_messages_in_batch` is set).
    pub metadata: MessageMetadata,
    /// The payload as sent: for a batch, the serialized single messages.
    pub payload: Vec<u8>,
    /// 1 for a single message, the number of messages for a batch.
    pub num_messages: u32,
}

/// One message stored on a topic, batches split into their messages.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: MessageId,
    pub producer_name: String,
    /// The producer's sequence id (for a batched message: its own if the client set one, else
    /// the batch's plus its index, as Pulsar clients number them).
    pub sequence_id: u64,
    pub publish_time: u64,
    pub event_time: Option<u64>,
    pub partition_key: Option<String>,
    pub ordering_key: Option<Vec<u8>>,
    pub properties: BTreeMap<String, String>,
    /// The payload as sent (not decompressed).
    pub payload: Vec<u8>,
}

/// An entry of the log, kept as received so that it is dispatched byte for byte.
pub(crate) struct Entry {
    pub payload: Payload,
    pub num_messages: u32,
    /// Routing key for Key_Shared subscriptions (see [`routing_key`]).
    pub key: Vec<u8>,
}

/// The append-only message log of a topic.
pub(crate) struct Log {
    pub ledger_id: u64,
    pub entries: Vec<Entry>,
}

impl Log {
    pub fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    pub fn get(&self, entry_id: u64) -> Option<&Entry> {
        usize::try_from(entry_id)
            .ok()
            .and_then(|index| self.entries.get(index))
    }

    pub fn append(&mut self, payload: Payload, num_messages: u32) -> u64 {
        let key = routing_key(&payload);
        self.entries.push(Entry {
            payload,
            num_messages,
            key,
        });
        self.len() - 1
    }

    pub fn message_id(&self, entry_id: u64) -> MessageIdData {
        MessageIdData {
            ledger_id: self.ledger_id,
            entry_id,
            ..Default::default()
        }
    }
}

/// A producer attached to a topic.
pub(crate) struct ProducerInfo {
    pub name: String,
    pub exclusive: bool,
}

/// Producers are identified by their connection and the id the client gave them on it.
pub(crate) type ProducerKey = (ConnId, u64);

pub(crate) struct Topic {
    pub log: Log,
    pub producers: BTreeMap<ProducerKey, ProducerInfo>,
    pub subscriptions: BTreeMap<String, Subscription>,
    /// The first schema a producer declared: only echoed back, never validated.
    pub schema: Option<Schema>,
}

impl Topic {
    pub fn new(ledger_id: u64) -> Self {
        Topic {
            log: Log {
                ledger_id,
                entries: Vec::new(),
            },
            producers: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            schema: None,
        }
    }

    /// Hands the entries each subscription can send to its consumers' permits.
    pub fn dispatch(&mut self) {
        for subscription in self.subscriptions.values_mut() {
            subscription.dispatch(&self.log);
        }
    }

    pub fn entries(&self) -> Vec<StoredEntry> {
        self.log
            .entries
            .iter()
            .enumerate()
            .map(|(index, entry)| StoredEntry {
                id: MessageId {
                    ledger_id: self.log.ledger_id,
                    entry_id: index as u64,
                    batch_index: None,
                },
                metadata: entry.payload.metadata.clone(),
                payload: entry.payload.data.clone(),
                num_messages: entry.num_messages,
            })
            .collect()
    }

    pub fn messages(&self) -> Vec<StoredMessage> {
        self.entries().into_iter().flat_map(split_entry).collect()
    }
}

/// Pulsar's short topic names ("my-topic", "tenant/ns/my-topic") in full, as the C++ client
/// sends them: the Rust client sends names as given, and both must land on the same topic.
pub fn full_topic_name(topic: &str) -> String {
    if topic.contains("://") {
        topic.to_string()
    } else if topic.contains('/') {
        format!("persistent://{topic}")
    } else {
        format!("persistent://public/default/{topic}")
    }
}

/// Splits a stored entry into its messages. A batch that cannot be split (compressed, or
/// malformed) is returned whole, as one message with the raw payload.
fn split_entry(entry: StoredEntry) -> Vec<StoredMessage> {
    let metadata = &entry.metadata;
    let single = |id: MessageId, payload: Vec<u8>| StoredMessage {
        id,
        producer_name: metadata.producer_name.clone(),
        sequence_id: metadata.sequence_id,
        publish_time: metadata.publish_time,
        event_time: metadata.event_time,
        partition_key: metadata.partition_key.clone(),
        ordering_key: metadata.ordering_key.clone(),
        properties: properties(&metadata.properties),
        payload,
    };
    let compressed = metadata
        .compression
        .is_some_and(|c| c != CompressionType::None as i32);
    let batch = match metadata.num_messages_in_batch {
        Some(count) if !compressed => parse_batch(&entry.payload, count),
        _ => None,
    };
    let Some(batch) = batch else {
        return vec![single(entry.id, entry.payload.clone())];
    };
    batch
        .into_iter()
        .enumerate()
        .map(|(index, (item, payload))| {
            let id = MessageId {
                batch_index: Some(index as u32),
                ..entry.id
            };
            StoredMessage {
                sequence_id: item
                    .sequence_id
                    .unwrap_or(metadata.sequence_id.wrapping_add(index as u64)),
                event_time: item.event_time.or(metadata.event_time),
                partition_key: item.partition_key.clone(),
                ordering_key: item.ordering_key.clone(),
                properties: properties(&item.properties),
                ..single(id, payload)
            }
        })
        .collect()
}

fn properties(properties: &[pulsar::message::proto::KeyValue]) -> BTreeMap<String, String> {
    properties
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect()
}

/// Parses the payload of a batch: `count` times [metadata size: u32][SingleMessageMetadata]
/// [payload of `payload_size` bytes]. Returns `None` if it does not parse exactly.
pub(crate) fn parse_batch(mut data: &[u8], count: i32) -> Option<Vec<(SingleMessageMetadata, Vec<u8>)>> {
    let mut messages = Vec::with_capacity(usize::try_from(count).ok()?.min(10_000));
    for _ in 0..count {
        let (size, rest) = data.split_first_chunk::<4>()?;
        let size = usize::try_from(u32::from_be_bytes(*size)).ok()?;
        let metadata = SingleMessageMetadata::decode(rest.get(..size)?).ok()?;
        let rest = &rest[size..];
        let payload_size = usize::try_from(metadata.payload_size).ok()?;
        messages.push((metadata, rest.get(..payload_size)?.to_vec()));
        data = &rest[payload_size..];
    }
    Some(messages)
}

/// The key Key_Shared subscriptions route an entry by: its ordering key, else its partition key,
/// else (the Rust client's batches carry keys only per message) the first message's. Entries
/// without any key share the empty key, as Pulsar routes them all to one consumer.
fn routing_key(payload: &Payload) -> Vec<u8> {
    let metadata = &payload.metadata;
    if let Some(key) = &metadata.ordering_key {
        return key.clone();
    }
    if let Some(key) = &metadata.partition_key {
        return key.as_bytes().to_vec();
    }
    let first = metadata
        .num_messages_in_batch
        .filter(|_| {
            metadata
                .compression
                .is_none_or(|c| c == CompressionType::None as i32)
        })
        .and_then(|count| parse_batch(&payload.data, count.min(1)))
        .and_then(|batch| batch.into_iter().next());
    match first {
        Some((item, _)) => item
            .ordering_key
            .or(item.partition_key.map(String::into_bytes))
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

/// Topics in memory, created on first use by a producer or a subscription.
#[derive(Default)]
pub(crate) struct Topics {
    topics: HashMap<String, Topic>,
    /// Ledger ids are distinct across topics so that a message id names one message.
    next_ledger_id: u64,
}

impl Topics {
    pub fn get(&self, name: &str) -> Option<&Topic> {
        self.topics.get(name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Topic> {
        self.topics.get_mut(name)
    }

    pub fn get_or_create(&mut self, name: &str) -> &mut Topic {
        let next_ledger_id = &mut self.next_ledger_id;
        self.topics.entry(name.to_string()).or_insert_with(|| {
            *next_ledger_id += 1;
            Topic::new(*next_ledger_id)
        })
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.topics.keys().cloned().collect();
        names.sort();
        names
    }
}
