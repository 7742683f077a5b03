//! Fault injection: what tests can make the broker do wrong, on top of serving normally.
//! Going down (refusing connections) lives with the listener in `server`.

use std::time::Duration;

use pulsar::message::proto::BaseCommand;

use crate::broker::{Broker, Outbox};
use crate::topic::full_topic_name;

/// Faults applied to the traffic as it goes.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Send receipts are sent this long after the message is stored.
    pub receipt_delay: Option<Duration>,
    /// The next receipts not to send at all (the message is stored all the same, as when a
    /// broker persists a message and the connection fails before the receipt gets through).
    pub receipts_to_drop: usize,
}

impl Faults {
    /// Sends the receipt of a stored message now, later, or never.
    pub fn deliver_receipt(&mut self, outbox: &Outbox, receipt: BaseCommand) {
        if self.receipts_to_drop > 0 {
            self.receipts_to_drop -= 1;
            return tracing::info!("fault: dropping a send receipt");
        }
        match self.receipt_delay {
            None => outbox.send(receipt),
            Some(delay) => {
                let outbox = outbox.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    outbox.send(receipt);
                });
            }
        }
    }
}

impl Broker {
    /// Closes every client connection, as a broker restart or a network failure would. Producers
    /// and consumers are cleaned up at once, so that clients reconnecting right away are not
    /// refused as duplicates of themselves.
    pub fn drop_connections(&mut self) -> usize {
        let connections = self.connection_ids();
        for conn in &connections {
            if let Some(outbox) = self.disconnect(*conn) {
                outbox.close();
            }
        }
        connections.len()
    }

    /// Closes the topic's producers from the broker's side (CLOSE_PRODUCER), as Pulsar does when
    /// it unloads a topic. Returns how many.
    pub fn close_producers(&mut self, topic: &str) -> usize {
        let topic = full_topic_name(topic);
        let producers: Vec<_> = self
            .topics
            .get(&topic)
            .map(|t| t.producers.keys().copied().collect())
            .unwrap_or_default();
        for &producer in &producers {
            self.close_producer_by_broker(producer, &topic);
        }
        producers.len()
    }

    /// Closes the topic's consumers from the broker's side (CLOSE_CONSUMER), as Pulsar does when
    /// it unloads a topic. Their unacknowledged messages are redelivered. Returns how many.
    pub fn close_consumers(&mut self, topic: &str) -> usize {
        let consumers: Vec<_> = self
            .topics
            .get(&full_topic_name(topic))
            .map(|t| {
                t.subscriptions
                    .values()
                    .flat_map(|s| s.consumers.iter().map(|c| c.key))
                    .collect()
            })
            .unwrap_or_default();
        for &consumer in &consumers {
            self.close_consumer_by_broker(consumer);
        }
        consumers.len()
    }

    /// Dispatches again every message the subscription has dispatched, acknowledged or not, as
    /// if the acknowledgements had been lost. Returns how many entries, `None` without such a
    /// subscription.
    pub fn redeliver_all(&mut self, topic: &str, subscription: &str) -> Option<usize> {
        let topic = self.topics.get_mut(&full_topic_name(topic))?;
        let requeued = topic.subscriptions.get_mut(subscription)?.redeliver_all();
        topic.dispatch();
        Some(requeued)
    }
}
