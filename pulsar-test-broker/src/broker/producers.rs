//! The producer commands: PRODUCER, SEND, CLOSE_PRODUCER.

use pulsar::message::proto::command_subscribe::SubType;
use pulsar::message::proto::{
    base_command::Type, BaseCommand, CommandCloseProducer, CommandProducer, CommandProducerSuccess,
    CommandSend, CommandSendReceipt, ProducerAccessMode, ServerError,
};
use pulsar::message::Payload;

use super::{error, success, valid_topic_name, Broker, ConnId, Outbox, BROKER_REQUEST_ID, SCHEMA_VERSION};
use crate::subscription::Subscription;
use crate::topic::ProducerInfo;

impl Broker {
    pub(super) fn create_producer(&mut self, conn: ConnId, outbox: &Outbox, producer: CommandProducer) {
        let request_id = producer.request_id;
        let Some(topic_name) = valid_topic_name(&producer.topic) else {
            return outbox.send(error(
                request_id,
                ServerError::InvalidTopicName,
                "empty topic name",
            ));
        };
        let key = (conn, producer.producer_id);
        let access_mode = producer
            .producer_access_mode
            .and_then(|mode| ProducerAccessMode::try_from(mode).ok());
        // WaitForExclusive is not queued: it is refused like Exclusive while the topic is taken.
        let exclusive = access_mode.is_some_and(|mode| mode != ProducerAccessMode::Shared);
        let name = match producer.producer_name.filter(|name| !name.is_empty()) {
            Some(name) => name,
            None => {
                self.next_producer_name += 1;
                format!("test-broker-{}", self.next_producer_name)
            }
        };
        let topic = self.topics.get_or_create(&topic_name);
        if let Some(existing) = topic.producers.get(&key) {
            // the client asked again (e.g. after a timeout): same answer, as Pulsar does
            let name = existing.name.clone();
            return outbox.send(producer_success(
                request_id,
                name,
                producer.schema.is_some(),
                exclusive,
            ));
        }
        if access_mode == Some(ProducerAccessMode::ExclusiveWithFencing) {
            let fenced: Vec<_> = topic.producers.keys().copied().collect();
            for fenced in fenced {
                self.close_producer_by_broker(fenced, &topic_name);
            }
        }
        let topic = self.topics.get_or_create(&topic_name);
        // ProducerBusy for every conflict: clients retry it, so a standby producer waits its turn.
        let conflict = if topic.producers.values().any(|p| p.name == name) {
            Some(format!(
                "Producer with name '{name}' is already connected to topic"
            ))
        } else if topic.producers.values().any(|p| p.exclusive) {
            Some("Topic has an existing exclusive producer".to_string())
        } else if exclusive && !topic.producers.is_empty() {
            Some("Topic has existing shared producers".to_string())
        } else {
            None
        };
        if let Some(conflict) = conflict {
            return outbox.send(error(request_id, ServerError::ProducerBusy, &conflict));
        }
        if let Some(schema) = &producer.schema {
            topic.schema.get_or_insert_with(|| schema.clone());
        }
        // dead-letter producers ask for a subscription so that nothing published is missed
        if let Some(subscription) = producer.initial_subscription_name.filter(|name| !name.is_empty()) {
            topic
                .subscriptions
                .entry(subscription)
                .or_insert_with(|| Subscription::new(SubType::Shared, true, 0));
        }
        topic.producers.insert(
            key,
            ProducerInfo {
                name: name.clone(),
                exclusive,
            },
        );
        if let Some(connection) = self.connections.get_mut(&conn) {
            connection.producers.insert(producer.producer_id, topic_name);
        }
        outbox.send(producer_success(
            request_id,
            name,
            producer.schema.is_some(),
            exclusive,
        ));
    }

    /// SEND: the payload (a message or a whole batch) becomes one entry of the log.
    pub(super) fn send(&mut self, conn: ConnId, outbox: &Outbox, send: CommandSend, payload: Payload) {
        let topic = self
            .connections
            .get(&conn)
            .and_then(|c| c.producers.get(&send.producer_id));
        let Some(topic) = topic.and_then(|topic| self.topics.get_mut(topic)) else {
            // Pulsar ignores the sends of a producer it closed: the client re-creates it and
            // resends them.
            return tracing::debug!(
                producer_id = send.producer_id,
                "ignoring a send of an unknown producer"
            );
        };
        let num_messages = payload
            .metadata
            .num_messages_in_batch
            .or(send.num_messages)
            .unwrap_or(1);
        let entry_id = topic
            .log
            .append(payload, u32::try_from(num_messages).unwrap_or(1).max(1));
        let receipt = BaseCommand {
            r#type: Type::SendReceipt as i32,
            send_receipt: Some(CommandSendReceipt {
                producer_id: send.producer_id,
                sequence_id: send.sequence_id,
                message_id: Some(topic.log.message_id(entry_id)),
                highest_sequence_id: send.highest_sequence_id,
            }),
            ..Default::default()
        };
        self.faults.deliver_receipt(outbox, receipt);
        topic.dispatch();
    }

    pub(super) fn close_producer(&mut self, conn: ConnId, outbox: &Outbox, close: CommandCloseProducer) {
        if let Some(topic) = self
            .connections
            .get_mut(&conn)
            .and_then(|c| c.producers.remove(&close.producer_id))
        {
            if let Some(topic) = self.topics.get_mut(&topic) {
                topic.producers.remove(&(conn, close.producer_id));
            }
        }
        // also for a producer the broker already closed: the client closes it before re-creating
        outbox.send(success(close.request_id));
    }

    /// Closes a producer on the broker's side: the client is told and re-creates it.
    pub(crate) fn close_producer_by_broker(&mut self, (conn, producer_id): (ConnId, u64), topic: &str) {
        if let Some(topic) = self.topics.get_mut(topic) {
            topic.producers.remove(&(conn, producer_id));
        }
        if let Some(connection) = self.connections.get_mut(&conn) {
            connection.producers.remove(&producer_id);
            connection.outbox.send(BaseCommand {
                r#type: Type::CloseProducer as i32,
                close_producer: Some(CommandCloseProducer {
                    producer_id,
                    request_id: BROKER_REQUEST_ID,
                }),
                ..Default::default()
            });
        }
    }
}

fn producer_success(
    request_id: u64,
    producer_name: String,
    has_schema: bool,
    exclusive: bool,
) -> BaseCommand {
    BaseCommand {
        r#type: Type::ProducerSuccess as i32,
        producer_success: Some(CommandProducerSuccess {
            request_id,
            producer_name,
            // no deduplication: clients start their sequence ids afresh
            last_sequence_id: Some(-1),
            schema_version: has_schema.then(|| SCHEMA_VERSION.to_vec()),
            topic_epoch: exclusive.then_some(0),
            producer_ready: Some(true),
        }),
        ..Default::default()
    }
}
