//! A subscription: its cursor over the topic log and the dispatch of entries to its consumers
//! according to the subscription type.
//!
//! The cursor follows Pulsar's managed cursor: every entry before `mark_delete` is
//! acknowledged, entries after it may be acknowledged individually, `read_position` is the first
//! entry never dispatched, and `replay` holds the entries to dispatch again (redelivered, or
//! held by a consumer that left). Replayed entries go first, so redeliveries keep their order.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use pulsar::message::proto::command_ack::AckType;
use pulsar::message::proto::command_subscribe::SubType;
use pulsar::message::proto::{
    base_command::Type, BaseCommand, CommandActiveConsumerChange, CommandMessage, MessageIdData, ServerError,
};
use pulsar::message::Message;

use crate::broker::{ConnId, Outbox};
use crate::topic::Log;

/// Consumers are identified by their connection and the id the client gave them on it.
pub(crate) type ConsumerKey = (ConnId, u64);

pub(crate) struct Consumer {
    pub key: ConsumerKey,
    /// Messages the client can still take, from its FLOW commands. A batch takes as many permits
    /// as it has messages and may overdraw them, as in Pulsar: hence signed.
    pub permits: i64,
    pub outbox: Outbox,
}

pub(crate) struct Subscription {
    pub sub_type: SubType,
    pub durable: bool,
    /// In arrival order: for Exclusive and Failover the first one is the active consumer, and
    /// Key_Shared hashes keys over this order, so the routing only changes when consumers do.
    pub consumers: Vec<Consumer>,
    /// Where the subscription started (or was last reset by a seek), for `redeliver_all`.
    start: u64,
    mark_delete: u64,
    read_position: u64,
    /// Entries at or after `mark_delete` that are fully acknowledged.
    acked: BTreeSet<u64>,
    /// Acknowledged messages of partly acknowledged batches, by entry.
    acked_indexes: HashMap<u64, BTreeSet<u32>>,
    /// Entries dispatched and not acknowledged yet, with the consumer that holds them.
    pending: BTreeMap<u64, ConsumerKey>,
    replay: BTreeSet<u64>,
    /// Redelivery counts by entry, sent with each delivery (dead-letter policies rely on them).
    redelivery_counts: HashMap<u64, u32>,
    /// Shared subscriptions: where the round robin goes on.
    next_consumer: usize,
}

/// Who gets an entry.
enum Pick {
    Consumer(usize),
    /// Key_Shared: the consumer of this key has no permits, but others may take other keys.
    Later,
    /// No consumer can take anything now.
    Nobody,
}

impl Subscription {
    pub fn new(sub_type: SubType, durable: bool, start: u64) -> Self {
        Subscription {
            sub_type,
            durable,
            consumers: Vec::new(),
            start,
            mark_delete: start,
            read_position: start,
            acked: BTreeSet::new(),
            acked_indexes: HashMap::new(),
            pending: BTreeMap::new(),
            replay: BTreeSet::new(),
            redelivery_counts: HashMap::new(),
            next_consumer: 0,
        }
    }

    /// Admits a consumer, with Pulsar's rules: one consumer at a time on an Exclusive
    /// subscription, and all consumers of the same type (the type may change while none is
    /// connected).
    pub fn add_consumer(
        &mut self,
        sub_type: SubType,
        consumer: Consumer,
    ) -> Result<(), (ServerError, String)> {
        if !self.consumers.is_empty() {
            if sub_type != self.sub_type {
                let message = format!(
                    "subscription is {:?}, cannot subscribe as {sub_type:?}",
                    self.sub_type
                );
                return Err((ServerError::ConsumerBusy, message));
            }
            if sub_type == SubType::Exclusive {
                return Err((
                    ServerError::ConsumerBusy,
                    "Exclusive consumer is already connected".into(),
                ));
            }
        }
        self.sub_type = sub_type;
        self.consumers.push(consumer);
        Ok(())
    }

    /// Tells a Failover consumer that just subscribed whether it is the active one (Pulsar
    /// sends this after the subscription's success).
    pub fn announce_active(&self, key: ConsumerKey) {
        if self.sub_type == SubType::Failover {
            if let Some(consumer) = self.consumers.iter().find(|c| c.key == key) {
                let active = self.consumers.first().is_some_and(|first| first.key == key);
                consumer.outbox.send(active_consumer_change(key.1, active));
            }
        }
    }

    /// Removes a consumer: the messages it had not acknowledged go back to the subscription, with
    /// their redelivery count incremented. Returns whether it was there.
    pub fn remove_consumer(&mut self, key: ConsumerKey) -> bool {
        let Some(index) = self.consumers.iter().position(|c| c.key == key) else {
            return false;
        };
        self.consumers.remove(index);
        let unacked: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, k)| **k == key)
            .map(|(e, _)| *e)
            .collect();
        for entry_id in unacked {
            self.requeue(entry_id);
        }
        if index == 0 {
            if let Some(first) = self.consumers.first() {
                if self.sub_type == SubType::Failover {
                    first.outbox.send(active_consumer_change(first.key.1, true));
                }
            }
        }
        true
    }

    pub fn has_consumer(&self, key: ConsumerKey) -> bool {
        self.consumers.iter().any(|c| c.key == key)
    }

    pub fn flow(&mut self, key: ConsumerKey, permits: u32) {
        if let Some(consumer) = self.consumers.iter_mut().find(|c| c.key == key) {
            consumer.permits += i64::from(permits);
        }
    }

    /// Applies an ACK. Acks of a batch's messages (by `batch_index`, as the Rust client sends
    /// them, or by `ack_set`, as the C++ and Java clients do) acknowledge the entry once all its
    /// messages are; an id without either acknowledges the whole entry.
    pub fn ack(&mut self, ack_type: AckType, ids: &[MessageIdData], log: &Log) {
        let mut ids = ids
            .iter()
            .filter(|id| id.ledger_id == log.ledger_id && id.entry_id < log.len());
        if ack_type == AckType::Individual {
            for id in ids {
                self.ack_message(id, false, log);
            }
            return;
        }
        // Pulsar refuses cumulative acks where consumers share the topic: a consumer would
        // acknowledge the messages of the others.
        if matches!(self.sub_type, SubType::Shared | SubType::KeyShared) {
            tracing::warn!("cumulative ack ignored on a {:?} subscription", self.sub_type);
            return;
        }
        // a cumulative ack carries one id: the last message acknowledged
        if let Some(id) = ids.next() {
            for entry_id in self.mark_delete..id.entry_id {
                self.ack_entry(entry_id);
            }
            self.ack_message(id, true, log);
        }
    }

    /// Redelivers the given messages held by this consumer (the whole entry, for a batch's
    /// message), or all it holds if no id is given, with their redelivery count incremented.
    pub fn redeliver(&mut self, key: ConsumerKey, ids: &[MessageIdData], ledger_id: u64) {
        let entries: BTreeSet<u64> = if ids.is_empty() {
            self.pending
                .iter()
                .filter(|(_, k)| **k == key)
                .map(|(e, _)| *e)
                .collect()
        } else {
            ids.iter()
                .filter(|id| id.ledger_id == ledger_id && self.pending.get(&id.entry_id) == Some(&key))
                .map(|id| id.entry_id)
                .collect()
        };
        for entry_id in entries {
            self.requeue(entry_id);
        }
    }

    /// Fault injection, as if every acknowledgement since the subscription started (or was last
    /// reset) had been lost: everything dispatched is dispatched again. Returns how many entries.
    pub fn redeliver_all(&mut self) -> usize {
        let dispatched: Vec<u64> = (self.start..self.read_position).collect();
        let mark_delete = std::mem::replace(&mut self.mark_delete, self.start);
        // entries acknowledged without having been dispatched stay acknowledged
        self.acked.extend(self.read_position..mark_delete);
        for &entry_id in &dispatched {
            self.acked.remove(&entry_id);
            self.acked_indexes.remove(&entry_id);
            self.requeue(entry_id);
        }
        self.advance_mark_delete();
        dispatched.len()
    }

    /// Resets the cursor so that `position` is the next entry delivered, forgetting the
    /// acknowledgements after it (Pulsar's reset-cursor). The caller disconnects the consumers.
    pub fn seek(&mut self, position: u64) {
        *self = Subscription {
            consumers: std::mem::take(&mut self.consumers),
            ..Self::new(self.sub_type, self.durable, position)
        };
    }

    /// Entries not acknowledged yet.
    pub fn backlog(&self, log: &Log) -> u64 {
        (self.mark_delete..log.len())
            .filter(|e| !self.acked.contains(e))
            .count() as u64
    }

    /// The last entry before which all are acknowledged, as GET_LAST_MESSAGE_ID reports it.
    pub fn mark_delete_position(&self, log: &Log) -> MessageIdData {
        // Pulsar reports the last acknowledged entry, -1 (as uint64) when there is none.
        log.message_id(self.mark_delete.wrapping_sub(1))
    }

    /// Sends what it can: replayed entries first, then new ones, as long as consumers have
    /// permits.
    pub fn dispatch(&mut self, log: &Log) {
        if self.consumers.is_empty() {
            return;
        }
        let replay: Vec<u64> = self.replay.iter().copied().collect();
        for entry_id in replay {
            match self.pick_consumer(entry_id, log) {
                Pick::Consumer(index) => {
                    self.replay.remove(&entry_id);
                    self.send(index, entry_id, log);
                }
                Pick::Later => {}
                Pick::Nobody => return,
            }
        }
        while self.read_position < log.len() {
            let entry_id = self.read_position;
            if entry_id < self.mark_delete || self.acked.contains(&entry_id) {
                self.read_position += 1;
                continue;
            }
            match self.pick_consumer(entry_id, log) {
                Pick::Consumer(index) => self.send(index, entry_id, log),
                // keep it for later without holding back the other keys, as Pulsar does
                Pick::Later => {
                    self.replay.insert(entry_id);
                }
                Pick::Nobody => return,
            }
            self.read_position += 1;
        }
    }

    fn pick_consumer(&mut self, entry_id: u64, log: &Log) -> Pick {
        let has_permits = |consumer: &Consumer| consumer.permits > 0;
        match self.sub_type {
            // one active consumer: the first (Failover hands over to the next one when it leaves)
            SubType::Exclusive | SubType::Failover => match self.consumers.first() {
                Some(first) if has_permits(first) => Pick::Consumer(0),
                _ => Pick::Nobody,
            },
            SubType::Shared => {
                let count = self.consumers.len();
                let next = (0..count)
                    .map(|offset| (self.next_consumer + offset) % count)
                    .find(|&index| has_permits(&self.consumers[index]));
                match next {
                    Some(index) => {
                        self.next_consumer = index + 1;
                        Pick::Consumer(index)
                    }
                    None => Pick::Nobody,
                }
            }
            SubType::KeyShared => {
                if !self.consumers.iter().any(has_permits) {
                    return Pick::Nobody;
                }
                let key = log
                    .get(entry_id)
                    .map(|entry| entry.key.as_slice())
                    .unwrap_or_default();
                let index = (key_hash(key) % self.consumers.len() as u64) as usize;
                if has_permits(&self.consumers[index]) {
                    Pick::Consumer(index)
                } else {
                    Pick::Later
                }
            }
        }
    }

    fn send(&mut self, index: usize, entry_id: u64, log: &Log) {
        let (Some(entry), Some(consumer)) = (log.get(entry_id), self.consumers.get_mut(index)) else {
            return;
        };
        consumer.permits -= i64::from(entry.num_messages);
        self.pending.insert(entry_id, consumer.key);
        let command = CommandMessage {
            consumer_id: consumer.key.1,
            message_id: log.message_id(entry_id),
            // like Pulsar, only set once redelivered
            redelivery_count: self.redelivery_counts.get(&entry_id).copied(),
            ack_set: unacked_bitset(self.acked_indexes.get(&entry_id), entry.num_messages),
            consumer_epoch: None,
        };
        consumer.outbox.send_message(Message {
            command: BaseCommand {
                r#type: Type::Message as i32,
                message: Some(command),
                ..Default::default()
            },
            payload: Some(entry.payload.clone()),
        });
    }

    fn ack_message(&mut self, id: &MessageIdData, cumulative: bool, log: &Log) {
        let num_messages = log.get(id.entry_id).map_or(1, |entry| entry.num_messages);
        let indexes: Vec<u32> = if !id.ack_set.is_empty() {
            // bits still set are the messages not acknowledged yet
            (0..num_messages)
                .filter(|&i| !bit_is_set(&id.ack_set, i))
                .collect()
        } else {
            match id.batch_index.and_then(|index| u32::try_from(index).ok()) {
                Some(index) if cumulative => (0..=index).collect(),
                Some(index) => vec![index],
                None => return self.ack_entry(id.entry_id),
            }
        };
        if id.entry_id < self.mark_delete || self.acked.contains(&id.entry_id) {
            return;
        }
        let acked = self.acked_indexes.entry(id.entry_id).or_default();
        acked.extend(indexes.into_iter().filter(|&i| i < num_messages));
        if acked.len() as u32 >= num_messages {
            self.ack_entry(id.entry_id);
        }
    }

    fn ack_entry(&mut self, entry_id: u64) {
        if entry_id < self.mark_delete || !self.acked.insert(entry_id) {
            return;
        }
        self.acked_indexes.remove(&entry_id);
        self.pending.remove(&entry_id);
        self.replay.remove(&entry_id);
        self.redelivery_counts.remove(&entry_id);
        self.advance_mark_delete();
    }

    fn advance_mark_delete(&mut self) {
        while self.acked.remove(&self.mark_delete) {
            self.mark_delete += 1;
        }
    }

    fn requeue(&mut self, entry_id: u64) {
        self.pending.remove(&entry_id);
        *self.redelivery_counts.entry(entry_id).or_default() += 1;
        self.replay.insert(entry_id);
    }
}

fn active_consumer_change(consumer_id: u64, is_active: bool) -> BaseCommand {
    BaseCommand {
        r#type: Type::ActiveConsumerChange as i32,
        active_consumer_change: Some(CommandActiveConsumerChange {
            consumer_id,
            is_active: Some(is_active),
        }),
        ..Default::default()
    }
}

/// FNV-1a: a stable hash, so that a key goes to the same consumer from one run to the next
/// (std's `DefaultHasher` may change between Rust versions).
fn key_hash(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn bit_is_set(words: &[i64], index: u32) -> bool {
    let word = words.get((index / 64) as usize).copied().unwrap_or(0);
    word & (1 << (index % 64)) != 0
}

/// The `ack_set` of a partly acknowledged batch: bits set for the messages still to deliver
/// (Java and C++ consumers skip the others; the Rust client ignores it and gets them again).
fn unacked_bitset(acked: Option<&BTreeSet<u32>>, num_messages: u32) -> Vec<i64> {
    let Some(acked) = acked else {
        return Vec::new();
    };
    let mut words = vec![0i64; num_messages.div_ceil(64) as usize];
    for index in (0..num_messages).filter(|i| !acked.contains(i)) {
        words[(index / 64) as usize] |= 1 << (index % 64);
    }
    words
}

#[cfg(test)]
mod tests {
    use pulsar::message::proto::MessageMetadata;
    use pulsar::message::Payload;
    use tokio::sync::mpsc;

    use super::*;
    use crate::broker::Outbound;

    fn log(batch_sizes: &[u32]) -> Log {
        let mut log = Log {
            ledger_id: 7,
            entries: Vec::new(),
        };
        for (index, &size) in batch_sizes.iter().enumerate() {
            let metadata = MessageMetadata {
                partition_key: Some(format!("key-{index}")),
                num_messages_in_batch: (size > 1).then_some(size as i32),
                ..Default::default()
            };
            log.append(
                Payload {
                    metadata,
                    data: Vec::new(),
                },
                size,
            );
        }
        log
    }

    fn consumer(id: u64, permits: i64) -> (Consumer, mpsc::UnboundedReceiver<Outbound>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        let consumer = Consumer {
            key: (1, id),
            permits,
            outbox: Outbox(sender),
        };
        (consumer, receiver)
    }

    /// The (entry, redelivery count, ack_set) of the messages dispatched so far.
    fn delivered(receiver: &mut mpsc::UnboundedReceiver<Outbound>) -> Vec<(u64, Option<u32>, Vec<i64>)> {
        let mut delivered = Vec::new();
        while let Ok(Outbound::Frame(frame)) = receiver.try_recv() {
            if let Some(message) = frame.command.message {
                delivered.push((
                    message.message_id.entry_id,
                    message.redelivery_count,
                    message.ack_set,
                ));
            }
        }
        delivered
    }

    fn id(entry_id: u64) -> MessageIdData {
        MessageIdData {
            ledger_id: 7,
            entry_id,
            ..Default::default()
        }
    }

    #[test]
    fn a_batch_is_acked_by_ack_set_or_batch_index_and_redelivered_with_its_ack_set() {
        let log = log(&[3]);
        let mut subscription = Subscription::new(SubType::Shared, true, 0);
        let (consumer, mut receiver) = consumer(1, 10);
        subscription.add_consumer(SubType::Shared, consumer).unwrap();
        subscription.dispatch(&log);
        assert_eq!(delivered(&mut receiver), [(0, None, vec![])]);

        // C++ style: bits still set are not acknowledged (here message 1 is)
        let cpp_ack = MessageIdData {
            ack_set: vec![0b101],
            ..id(0)
        };
        subscription.ack(AckType::Individual, &[cpp_ack], &log);
        // Rust style: by batch index
        let rust_ack = MessageIdData {
            batch_index: Some(0),
            ..id(0)
        };
        subscription.ack(AckType::Individual, &[rust_ack], &log);
        assert_eq!(subscription.backlog(&log), 1);

        subscription.redeliver((1, 1), &[], log.ledger_id);
        subscription.dispatch(&log);
        assert_eq!(delivered(&mut receiver), [(0, Some(1), vec![0b100])]);
        let last = MessageIdData {
            batch_index: Some(2),
            ..id(0)
        };
        subscription.ack(AckType::Individual, &[last], &log);
        assert_eq!(subscription.backlog(&log), 0);
    }

    #[test]
    fn a_consumer_that_leaves_hands_its_unacked_messages_over_with_a_higher_count() {
        let log = log(&[1, 1, 1]);
        let mut subscription = Subscription::new(SubType::Failover, true, 0);
        let (active, mut active_receiver) = consumer(1, 10);
        let (standby, mut standby_receiver) = consumer(2, 10);
        subscription.add_consumer(SubType::Failover, active).unwrap();
        subscription.add_consumer(SubType::Failover, standby).unwrap();
        subscription.dispatch(&log);
        assert_eq!(delivered(&mut active_receiver).len(), 3);
        subscription.ack(AckType::Cumulative, &[id(0)], &log);

        subscription.remove_consumer((1, 1));
        subscription.dispatch(&log);
        assert_eq!(
            delivered(&mut standby_receiver),
            [(1, Some(1), vec![]), (2, Some(1), vec![])]
        );
    }

    #[test]
    fn key_shared_holds_a_key_back_without_blocking_the_others() {
        let log = log(&[1, 1, 1, 1, 1, 1, 1, 1]);
        let mut subscription = Subscription::new(SubType::KeyShared, true, 0);
        let (first, mut first_receiver) = consumer(1, 100);
        let (second, mut second_receiver) = consumer(2, 0);
        subscription.add_consumer(SubType::KeyShared, first).unwrap();
        subscription.add_consumer(SubType::KeyShared, second).unwrap();
        subscription.dispatch(&log);
        let first_entries = delivered(&mut first_receiver).len();
        assert!(
            first_entries < 8,
            "some keys belong to the consumer without permits"
        );

        subscription.flow((1, 2), 100);
        subscription.dispatch(&log);
        assert_eq!(first_entries + delivered(&mut second_receiver).len(), 8);
    }

    #[test]
    fn redeliver_all_sends_acknowledged_messages_again() {
        let log = log(&[1, 1]);
        let mut subscription = Subscription::new(SubType::Exclusive, true, 0);
        let (consumer, mut receiver) = consumer(1, 10);
        subscription.add_consumer(SubType::Exclusive, consumer).unwrap();
        subscription.dispatch(&log);
        subscription.ack(AckType::Individual, &[id(0), id(1)], &log);
        assert_eq!(subscription.backlog(&log), 0);
        delivered(&mut receiver);

        assert_eq!(subscription.redeliver_all(), 2);
        subscription.dispatch(&log);
        assert_eq!(
            delivered(&mut receiver),
            [(0, Some(1), vec![]), (1, Some(1), vec![])]
        );
        assert_eq!(subscription.backlog(&log), 2);
    }
}
