//! [`AckTracker`]: when to acknowledge, given that with producer batching an
//! acknowledgement acknowledges the whole batch.
//!
//! A Pulsar broker tracks acknowledgements per entry, and a batch is one entry: acknowledging
//! one message of a batch (as the `pulsar` crate does, without an ack set) acknowledges all
//! of them. Acknowledging message 1 of a batch and crashing before message 2 is applied
//! would lose message 2. So the messages of a batch are settled together, once every one of
//! them has been processed:
//! - all applied: acknowledge them;
//! - any failed: acknowledge none and negatively acknowledge them all. The broker redelivers
//!   the entry; the messages applied already come back as duplicates (ignored by event id)
//!   and the failing one fails again, until the redelivery limit sends the entry to the
//!   dead-letter topic. (The limit counts per entry, so the good messages of that batch are
//!   dead-lettered too: they were applied, the copies there are only for the record.)
//!
//! Messages that are not batched (the relay never batches) are settled one by one.

use pulsar::proto::MessageIdData;
use std::collections::HashMap;

/// What to tell the broker about some messages of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Ack(Vec<MessageIdData>),
    Nack(Vec<MessageIdData>),
}

impl Settlement {
    /// The messages it is about.
    pub fn into_ids(self) -> Vec<MessageIdData> {
        match self {
            Settlement::Ack(ids) | Settlement::Nack(ids) => ids,
        }
    }
}

/// Batches seen in part, by entry.
#[derive(Debug, Default)]
pub struct AckTracker {
    batches: HashMap<(u64, u64, i32), Batch>,
}

#[derive(Debug)]
struct Batch {
    size: usize,
    processed: Vec<MessageIdData>,
    failed: bool,
}

/// More partly seen batches than this means batches whose rest will never come (a
/// reconnection in the middle of one): they are forgotten, and redelivered by the broker
/// since they were never acknowledged.
const MAX_OPEN_BATCHES: usize = 10_000;

impl AckTracker {
    /// Records that the message `id` (of a batch of `batch_size` messages, if batched) was
    /// processed, successfully or not; returns what to settle now, if anything.
    pub fn processed(&mut self, id: MessageIdData, batch_size: Option<i32>, ok: bool) -> Option<Settlement> {
        let size = batch_size
            .and_then(|size| usize::try_from(size).ok())
            .unwrap_or(1);
        let Some(index) = id.batch_index.filter(|_| size > 1) else {
            return Some(if ok {
                Settlement::Ack(vec![id])
            } else {
                Settlement::Nack(vec![id])
            });
        };
        let entry = (id.ledger_id, id.entry_id, id.partition.unwrap_or(-1));
        if index == 0 {
            // A batch starts (again, if it is redelivered): forget an earlier partial run.
            self.batches.remove(&entry);
        }
        if self.batches.len() >= MAX_OPEN_BATCHES {
            self.batches.clear();
        }
        let batch = self.batches.entry(entry).or_insert_with(|| Batch {
            size,
            processed: Vec::with_capacity(size),
            failed: false,
        });
        batch.processed.push(id);
        batch.failed |= !ok;
        if batch.processed.len() < batch.size {
            return None;
        }
        let batch = self.batches.remove(&entry)?;
        Some(if batch.failed {
            Settlement::Nack(batch.processed)
        } else {
            Settlement::Ack(batch.processed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(entry_id: u64, batch_index: Option<i32>) -> MessageIdData {
        MessageIdData {
            ledger_id: 1,
            entry_id,
            batch_index,
            ..MessageIdData::default()
        }
    }

    #[test]
    fn single_messages_are_settled_at_once() {
        let mut acks = AckTracker::default();
        assert_eq!(
            acks.processed(id(1, None), None, true),
            Some(Settlement::Ack(vec![id(1, None)]))
        );
        assert_eq!(
            acks.processed(id(2, None), None, false),
            Some(Settlement::Nack(vec![id(2, None)]))
        );
    }

    #[test]
    fn a_batch_is_acknowledged_once_all_its_messages_are_applied() {
        let mut acks = AckTracker::default();
        assert_eq!(acks.processed(id(5, Some(0)), Some(3), true), None);
        assert_eq!(acks.processed(id(5, Some(1)), Some(3), true), None);
        assert_eq!(
            acks.processed(id(5, Some(2)), Some(3), true),
            Some(Settlement::Ack(vec![
                id(5, Some(0)),
                id(5, Some(1)),
                id(5, Some(2))
            ]))
        );
    }

    #[test]
    fn a_batch_with_a_failure_is_not_acknowledged_but_redelivered_whole() {
        let mut acks = AckTracker::default();
        assert_eq!(acks.processed(id(5, Some(0)), Some(2), false), None);
        assert_eq!(
            acks.processed(id(5, Some(1)), Some(2), true),
            Some(Settlement::Nack(vec![id(5, Some(0)), id(5, Some(1))]))
        );
    }

    #[test]
    fn a_redelivered_batch_starts_over() {
        let mut acks = AckTracker::default();
        assert_eq!(acks.processed(id(5, Some(0)), Some(2), false), None);
        // the connection dropped; the broker redelivers the entry from its first message
        assert_eq!(acks.processed(id(5, Some(0)), Some(2), true), None);
        assert_eq!(
            acks.processed(id(5, Some(1)), Some(2), true),
            Some(Settlement::Ack(vec![id(5, Some(0)), id(5, Some(1))]))
        );
    }

    #[test]
    fn batches_of_different_entries_are_kept_apart() {
        let mut acks = AckTracker::default();
        assert_eq!(acks.processed(id(5, Some(0)), Some(2), true), None);
        assert_eq!(acks.processed(id(6, Some(0)), Some(2), false), None);
        assert!(matches!(
            acks.processed(id(5, Some(1)), Some(2), true),
            Some(Settlement::Ack(_))
        ));
        assert!(matches!(
            acks.processed(id(6, Some(1)), Some(2), true),
            Some(Settlement::Nack(_))
        ));
    }
}
