//! The consumer commands: SUBSCRIBE, FLOW, ACK, REDELIVER_UNACKNOWLEDGED_MESSAGES,
//! UNSUBSCRIBE, CLOSE_CONSUMER, SEEK, GET_LAST_MESSAGE_ID. The dispatch itself is the
//! subscription's.

use pulsar::message::proto::command_ack::AckType;
use pulsar::message::proto::command_subscribe::{InitialPosition, SubType};
use pulsar::message::proto::{
    base_command::Type, BaseCommand, CommandAck, CommandAckResponse, CommandCloseConsumer, CommandFlow,
    CommandGetLastMessageId, CommandGetLastMessageIdResponse, CommandRedeliverUnacknowledgedMessages,
    CommandSeek, CommandSubscribe, CommandUnsubscribe, MessageIdData, ServerError,
};

use super::{error, success, valid_topic_name, Broker, ConnId, Outbox, BROKER_REQUEST_ID};
use crate::subscription::{Consumer, ConsumerKey, Subscription};
use crate::topic::Log;

impl Broker {
    pub(super) fn subscribe(&mut self, conn: ConnId, outbox: &Outbox, subscribe: CommandSubscribe) {
        let request_id = subscribe.request_id;
        let Some(topic_name) = valid_topic_name(&subscribe.topic) else {
            return outbox.send(error(
                request_id,
                ServerError::InvalidTopicName,
                "empty topic name",
            ));
        };
        let Ok(sub_type) = SubType::try_from(subscribe.sub_type) else {
            return outbox.send(error(
                request_id,
                ServerError::UnknownError,
                "unknown subscription type",
            ));
        };
        let key = (conn, subscribe.consumer_id);
        let topic = self.topics.get_or_create(&topic_name);
        if topic
            .subscriptions
            .get(&subscribe.subscription)
            .is_some_and(|s| s.has_consumer(key))
        {
            // the client asked again (e.g. after a timeout): same answer, as Pulsar does
            return outbox.send(success(request_id));
        }
        let durable = subscribe.durable.unwrap_or(true);
        let log = &topic.log;
        let subscription = topic
            .subscriptions
            .entry(subscribe.subscription.clone())
            .or_insert_with(|| {
                let start = match (&subscribe.start_message_id, subscribe.initial_position) {
                    // readers (non-durable) start after the message they give
                    (Some(id), _) if !durable => start_after(id, log),
                    (_, Some(position)) if position == InitialPosition::Earliest as i32 => 0,
                    _ => log.len(),
                };
                Subscription::new(sub_type, durable, start)
            });
        let consumer = Consumer {
            key,
            permits: 0,
            outbox: outbox.clone(),
        };
        if let Err((code, message)) = subscription.add_consumer(sub_type, consumer) {
            return outbox.send(error(request_id, code, &message));
        }
        outbox.send(success(request_id));
        subscription.announce_active(key);
        if let Some(connection) = self.connections.get_mut(&conn) {
            connection
                .consumers
                .insert(subscribe.consumer_id, (topic_name, subscribe.subscription));
        }
    }

    /// The subscription a consumer of this connection is attached to, with its topic's log.
    pub(super) fn subscription_of(
        &mut self,
        conn: ConnId,
        consumer_id: u64,
    ) -> Option<(&mut Subscription, &Log)> {
        let (topic, subscription) = self.connections.get(&conn)?.consumers.get(&consumer_id)?;
        let topic = self.topics.get_mut(topic)?;
        Some((topic.subscriptions.get_mut(subscription)?, &topic.log))
    }

    pub(super) fn flow(&mut self, conn: ConnId, flow: CommandFlow) {
        if let Some((subscription, log)) = self.subscription_of(conn, flow.consumer_id) {
            subscription.flow((conn, flow.consumer_id), flow.message_permits);
            subscription.dispatch(log);
        }
    }

    pub(super) fn ack(&mut self, conn: ConnId, outbox: &Outbox, ack: CommandAck) {
        let ack_type = AckType::try_from(ack.ack_type).unwrap_or(AckType::Individual);
        // acks of a consumer the broker no longer knows are dropped, as in Pulsar: the messages
        // were already queued for redelivery
        if let Some((subscription, log)) = self.subscription_of(conn, ack.consumer_id) {
            subscription.ack(ack_type, &ack.message_id, log);
        }
        if let Some(request_id) = ack.request_id {
            outbox.send(BaseCommand {
                r#type: Type::AckResponse as i32,
                ack_response: Some(CommandAckResponse {
                    consumer_id: ack.consumer_id,
                    request_id: Some(request_id),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }

    pub(super) fn redeliver(&mut self, conn: ConnId, redeliver: CommandRedeliverUnacknowledgedMessages) {
        let key = (conn, redeliver.consumer_id);
        if let Some((subscription, log)) = self.subscription_of(conn, redeliver.consumer_id) {
            subscription.redeliver(key, &redeliver.message_ids, log.ledger_id);
            subscription.dispatch(log);
        }
    }

    /// UNSUBSCRIBE deletes the subscription, if this consumer is the only one on it.
    pub(super) fn unsubscribe(&mut self, conn: ConnId, outbox: &Outbox, unsubscribe: CommandUnsubscribe) {
        let request_id = unsubscribe.request_id;
        let Some((subscription, _)) = self.subscription_of(conn, unsubscribe.consumer_id) else {
            return outbox.send(error(
                request_id,
                ServerError::ConsumerNotFound,
                "consumer not found",
            ));
        };
        if subscription.consumers.len() > 1 {
            return outbox.send(error(
                request_id,
                ServerError::ConsumerBusy,
                "subscription has other consumers",
            ));
        }
        let location = self
            .connections
            .get_mut(&conn)
            .and_then(|c| c.consumers.remove(&unsubscribe.consumer_id));
        if let Some((topic, subscription)) = location {
            if let Some(topic) = self.topics.get_mut(&topic) {
                topic.subscriptions.remove(&subscription);
            }
        }
        outbox.send(success(request_id));
    }

    pub(super) fn close_consumer(&mut self, conn: ConnId, outbox: &Outbox, close: CommandCloseConsumer) {
        self.remove_consumer(conn, close.consumer_id);
        // also for a consumer the broker already closed: the client closes it before subscribing
        outbox.send(success(close.request_id));
    }

    /// Removes a consumer from its connection and its subscription.
    pub(crate) fn remove_consumer(&mut self, conn: ConnId, consumer_id: u64) {
        let location = self
            .connections
            .get_mut(&conn)
            .and_then(|c| c.consumers.remove(&consumer_id));
        if let Some((topic, subscription)) = location {
            self.detach_consumer((conn, consumer_id), &topic, &subscription);
        }
    }

    /// Closes a consumer on the broker's side: the client is told and subscribes again.
    pub(crate) fn close_consumer_by_broker(&mut self, (conn, consumer_id): ConsumerKey) {
        self.remove_consumer(conn, consumer_id);
        if let Some(connection) = self.connections.get(&conn) {
            connection.outbox.send(BaseCommand {
                r#type: Type::CloseConsumer as i32,
                close_consumer: Some(CommandCloseConsumer {
                    consumer_id,
                    request_id: BROKER_REQUEST_ID,
                }),
                ..Default::default()
            });
        }
    }

    /// Takes a consumer out of its subscription, whose other consumers get its unacknowledged
    /// messages. A non-durable subscription (a reader's) ends with its last consumer.
    pub(super) fn detach_consumer(&mut self, key: ConsumerKey, topic: &str, subscription: &str) {
        let Some(topic) = self.topics.get_mut(topic) else {
            return;
        };
        let Some(sub) = topic.subscriptions.get_mut(subscription) else {
            return;
        };
        sub.remove_consumer(key);
        if sub.consumers.is_empty() && !sub.durable {
            topic.subscriptions.remove(subscription);
        } else {
            sub.dispatch(&topic.log);
        }
    }

    /// SEEK resets the subscription; like Pulsar, the broker then closes its consumers, which
    /// subscribe again and get messages from the new position.
    pub(super) fn seek(&mut self, conn: ConnId, outbox: &Outbox, seek: CommandSeek) {
        let request_id = seek.request_id;
        let Some((subscription, log)) = self.subscription_of(conn, seek.consumer_id) else {
            return outbox.send(error(
                request_id,
                ServerError::ConsumerNotFound,
                "consumer not found",
            ));
        };
        let position = match (&seek.message_id, seek.message_publish_time) {
            (Some(id), _) => position_of(id, log),
            (None, Some(time)) => {
                let first_after = log
                    .entries
                    .iter()
                    .position(|entry| entry.payload.metadata.publish_time >= time);
                first_after.map_or(log.len(), |index| index as u64)
            }
            (None, None) => {
                return outbox.send(error(
                    request_id,
                    ServerError::UnknownError,
                    "seek without a position",
                ))
            }
        };
        subscription.seek(position);
        let consumers: Vec<ConsumerKey> = subscription.consumers.iter().map(|c| c.key).collect();
        outbox.send(success(request_id));
        for key in consumers {
            self.close_consumer_by_broker(key);
        }
    }

    pub(super) fn get_last_message_id(
        &mut self,
        conn: ConnId,
        outbox: &Outbox,
        get: CommandGetLastMessageId,
    ) {
        let Some((subscription, log)) = self.subscription_of(conn, get.consumer_id) else {
            return outbox.send(error(
                get.request_id,
                ServerError::ConsumerNotFound,
                "consumer not found",
            ));
        };
        // entry -1 (as uint64) on an empty topic; the last message of a batch, as Pulsar does
        let last = log.len().wrapping_sub(1);
        let mut last_message_id = log.message_id(last);
        if let Some(entry) = log
            .get(last)
            .filter(|entry| entry.payload.metadata.num_messages_in_batch.is_some())
        {
            last_message_id.batch_index = Some(entry.num_messages as i32 - 1);
        }
        outbox.send(BaseCommand {
            r#type: Type::GetLastMessageIdResponse as i32,
            get_last_message_id_response: Some(CommandGetLastMessageIdResponse {
                last_message_id,
                request_id: get.request_id,
                consumer_mark_delete_position: Some(subscription.mark_delete_position(log)),
            }),
            ..Default::default()
        });
    }
}

/// The entry a message id designates, for a seek: it is the next one delivered. Also handles
/// the clients' "earliest" (-1:-1) and "latest" (i64::MAX) ids.
fn position_of(id: &MessageIdData, log: &Log) -> u64 {
    if id.ledger_id == u64::MAX {
        0
    } else if id.ledger_id == log.ledger_id {
        id.entry_id.min(log.len())
    } else if id.ledger_id < log.ledger_id {
        0
    } else {
        log.len()
    }
}

/// Where a reader starting at a message id starts: after it, as Pulsar positions a non-durable
/// cursor on the message itself; but at it for a message of a batch, whose entry is delivered
/// again (the Java and C++ clients skip its messages before the start).
fn start_after(id: &MessageIdData, log: &Log) -> u64 {
    let position = position_of(id, log);
    let in_batch = id.batch_index.is_some_and(|index| index >= 0);
    if id.ledger_id == log.ledger_id && !in_batch {
        (position + 1).min(log.len())
    } else {
        position
    }
}
