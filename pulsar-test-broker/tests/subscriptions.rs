//! Producing and consuming with the `pulsar` crate on every subscription type: routing, initial
//! positions, acknowledgements, redeliveries, durable cursors, dead letters, seek.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::*;
use futures::StreamExt;
use pulsar::consumer::{DeadLetterPolicy, InitialPosition};
use pulsar::{ConsumerOptions, SubType};

#[tokio::test]
async fn exclusive_subscription_delivers_payload_and_metadata() {
    let (broker, client) = start().await;
    let mut consumer = consumer(&client, "orders", "audit", SubType::Exclusive).await;
    let mut producer = client
        .producer()
        .with_topic("orders")
        .with_name("relay-1")
        .build()
        .await
        .unwrap();
    producer
        .create_message()
        .with_content("order placed")
        .with_property("event-type", "OrderPlaced")
        .with_partition_key("order-7")
        .event_time(1_700_000_000_000)
        .send_non_blocking()
        .await
        .unwrap()
        .await
        .unwrap();

    let message = next(&mut consumer).await;
    assert_eq!(text(&message), "order placed");
    let metadata = message.metadata();
    assert_eq!(metadata.producer_name, "relay-1");
    assert_eq!(metadata.partition_key.as_deref(), Some("order-7"));
    assert_eq!(metadata.event_time, Some(1_700_000_000_000));
    assert_eq!(metadata.properties[0].key, "event-type");
    assert_eq!(metadata.properties[0].value, "OrderPlaced");

    // short and full topic names are the same topic, as for Pulsar
    let stored = broker.messages("persistent://public/default/orders");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].id.matches(message.message_id()));
    assert_eq!(stored[0].payload, b"order placed");
    assert_eq!(stored[0].producer_name, "relay-1");
    assert_eq!(stored[0].partition_key.as_deref(), Some("order-7"));
    assert_eq!(
        stored[0].properties.get("event-type").map(String::as_str),
        Some("OrderPlaced")
    );
    assert_eq!(stored[0].event_time, Some(1_700_000_000_000));
}

#[tokio::test]
async fn exclusive_subscription_refuses_a_second_consumer() {
    let (broker, client) = start().await;
    let _first = consumer(&client, "orders", "audit", SubType::Exclusive).await;
    let impatient = client_with(&broker, Duration::from_secs(2), 0).await;
    let second = impatient
        .consumer()
        .with_topic("orders")
        .with_subscription("audit")
        .with_subscription_type(SubType::Exclusive)
        .build::<Vec<u8>>()
        .await;
    let error = second
        .err()
        .expect("a second exclusive consumer is refused")
        .to_string();
    assert!(error.contains("ConsumerBusy"), "{error}");
    // a consumer of another type is refused too
    let shared = impatient
        .consumer()
        .with_topic("orders")
        .with_subscription("audit")
        .with_subscription_type(SubType::Shared)
        .build::<Vec<u8>>()
        .await;
    assert!(shared.is_err());
}

#[tokio::test]
async fn shared_subscription_spreads_messages_over_consumers() {
    let (_broker, client) = start().await;
    let mut first = consumer(&client, "events", "workers", SubType::Shared).await;
    let mut second = consumer(&client, "events", "workers", SubType::Shared).await;
    let mut producer = producer(&client, "events").await;
    for i in 0..10 {
        send(&mut producer, &format!("event-{i}")).await;
    }
    let (mut got_first, mut got_second) = (Vec::new(), Vec::new());
    while got_first.len() + got_second.len() < 10 {
        tokio::select! {
            message = next(&mut first) => got_first.push(text(&message)),
            message = next(&mut second) => got_second.push(text(&message)),
        }
    }
    assert!(
        !got_first.is_empty() && !got_second.is_empty(),
        "{got_first:?} / {got_second:?}"
    );
    let all: BTreeSet<String> = got_first.into_iter().chain(got_second).collect();
    assert_eq!(all.len(), 10);
}

#[tokio::test]
async fn failover_subscription_hands_over_to_the_next_consumer() {
    let (broker, client) = start().await;
    let mut active = consumer(&client, "payments", "ledger", SubType::Failover).await;
    let mut standby = consumer(&client, "payments", "ledger", SubType::Failover).await;
    let mut producer = producer(&client, "payments").await;
    for i in 0..4 {
        send(&mut producer, &format!("payment-{i}")).await;
    }
    assert_eq!(receive_and_ack(&mut active, 2).await, ["payment-0", "payment-1"]);
    assert_no_message(&mut standby, Duration::from_millis(200)).await;
    eventually("the acks", || broker.backlog("payments", "ledger") == Some(2)).await;

    active.close().await.unwrap();
    drop(active);
    // what the active consumer had not acknowledged goes to the standby one
    assert_eq!(receive_and_ack(&mut standby, 2).await, ["payment-2", "payment-3"]);
}

#[tokio::test]
async fn key_shared_subscription_keeps_each_key_on_one_consumer() {
    let (_broker, client) = start().await;
    let mut first = consumer(&client, "campaigns", "projector", SubType::KeyShared).await;
    let mut second = consumer(&client, "campaigns", "projector", SubType::KeyShared).await;
    let mut producer = producer(&client, "campaigns").await;
    for i in 0..20 {
        let key = format!("campaign-{}", i % 5);
        producer
            .create_message()
            .with_content(format!("{key}/{i}"))
            .with_key(key)
            .send_non_blocking()
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut consumers_of_key: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut order_of_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for _ in 0..20 {
        let (consumer, message) = tokio::select! {
            message = next(&mut first) => (1, message),
            message = next(&mut second) => (2, message),
        };
        let key = message.key().unwrap();
        let sequence: usize = text(&message).rsplit('/').next().unwrap().parse().unwrap();
        consumers_of_key.entry(key.clone()).or_default().insert(consumer);
        order_of_key.entry(key).or_default().push(sequence);
    }
    assert_eq!(consumers_of_key.len(), 5);
    for (key, consumers) in &consumers_of_key {
        assert_eq!(consumers.len(), 1, "{key} went to {consumers:?}");
    }
    for (key, order) in &order_of_key {
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{key} out of order: {order:?}"
        );
    }
}

#[tokio::test]
async fn initial_position_earliest_or_latest() {
    let (_broker, client) = start().await;
    let mut producer = producer(&client, "history").await;
    send(&mut producer, "old").await;
    let mut earliest = consumer(&client, "history", "replay", SubType::Exclusive).await;
    let latest_options = ConsumerOptions::default().with_initial_position(InitialPosition::Latest);
    let mut latest = consumer_with(&client, "history", "live", SubType::Exclusive, latest_options).await;
    send(&mut producer, "new").await;

    assert_eq!(receive_and_ack(&mut earliest, 2).await, ["old", "new"]);
    assert_eq!(receive_and_ack(&mut latest, 1).await, ["new"]);
    assert_no_message(&mut latest, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn individual_and_cumulative_acks_move_the_durable_cursor() {
    let (broker, client) = start().await;
    let mut producer = producer(&client, "invoices").await;
    for i in 0..5 {
        send(&mut producer, &format!("invoice-{i}")).await;
    }
    let mut consumer_1 = consumer(&client, "invoices", "billing", SubType::Exclusive).await;
    let mut received = Vec::new();
    for _ in 0..5 {
        received.push(next(&mut consumer_1).await);
    }
    consumer_1.ack(&received[1]).await.unwrap();
    eventually("the individual ack", || {
        broker.backlog("invoices", "billing") == Some(4)
    })
    .await;
    consumer_1.cumulative_ack(&received[3]).await.unwrap();
    eventually("the cumulative ack", || {
        broker.backlog("invoices", "billing") == Some(1)
    })
    .await;

    // the subscription keeps its cursor: a new consumer gets only what was not acknowledged
    consumer_1.close().await.unwrap();
    drop(consumer_1);
    let mut consumer_2 = consumer(&client, "invoices", "billing", SubType::Exclusive).await;
    assert_eq!(receive_and_ack(&mut consumer_2, 1).await, ["invoice-4"]);
    assert_no_message(&mut consumer_2, Duration::from_millis(200)).await;
    eventually("the last ack", || {
        broker.backlog("invoices", "billing") == Some(0)
    })
    .await;
}

#[tokio::test]
async fn cumulative_acks_are_ignored_on_shared_subscriptions() {
    let (broker, client) = start().await;
    let mut producer = producer(&client, "shared-acks").await;
    send(&mut producer, "a").await;
    send(&mut producer, "b").await;
    let mut consumer = consumer(&client, "shared-acks", "s", SubType::Shared).await;
    let _a = next(&mut consumer).await;
    let b = next(&mut consumer).await;
    consumer.cumulative_ack(&b).await.unwrap();
    consumer.ack(&b).await.unwrap();
    eventually("the individual ack", || {
        broker.backlog("shared-acks", "s") == Some(1)
    })
    .await;
}

#[tokio::test]
async fn nacked_messages_are_redelivered() {
    let (broker, client) = start().await;
    let mut consumer = consumer(&client, "tasks", "runner", SubType::Shared).await;
    let mut producer = producer(&client, "tasks").await;
    send(&mut producer, "task").await;
    let first = next(&mut consumer).await;
    consumer.nack(&first).await.unwrap();
    let again = next(&mut consumer).await;
    assert_eq!(text(&again), "task");
    assert_eq!(again.message_id(), first.message_id());
    consumer.ack(&again).await.unwrap();
    eventually("the ack", || broker.backlog("tasks", "runner") == Some(0)).await;
}

#[tokio::test]
async fn unacknowledged_messages_are_redelivered_after_the_ack_timeout() {
    let (_broker, client) = start().await;
    let mut consumer = client
        .consumer()
        .with_topic("slow")
        .with_subscription("s")
        .with_subscription_type(SubType::Shared)
        .with_unacked_message_resend_delay(Some(Duration::from_millis(200)))
        .build::<Vec<u8>>()
        .await
        .unwrap();
    let mut producer = producer(&client, "slow").await;
    send(&mut producer, "work").await;
    let first = next(&mut consumer).await;
    let again = next(&mut consumer).await;
    assert_eq!(again.message_id(), first.message_id());
}

#[tokio::test]
async fn dead_letter_policy_moves_a_message_redelivered_too_often() {
    let (broker, client) = start().await;
    let mut consumer = client
        .consumer()
        .with_topic("tracking-events")
        .with_subscription("tracker")
        .with_subscription_type(SubType::Shared)
        .with_dead_letter_policy(DeadLetterPolicy {
            max_redeliver_count: 2,
            dead_letter_topic: "tracking-events-dlq".into(),
        })
        .build::<Vec<u8>>()
        .await
        .unwrap();
    let mut producer = producer(&client, "tracking-events").await;
    send(&mut producer, "poison").await;

    // delivered, then redelivered once (count 1); the next redelivery (count 2) goes to the DLQ
    for _ in 0..2 {
        let message = next(&mut consumer).await;
        assert_eq!(text(&message), "poison");
        consumer.nack(&message).await.unwrap();
    }
    let dead = broker.wait_for_messages("tracking-events-dlq", 1, WAIT).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, b"poison");
    assert_eq!(
        dead[0].properties.get("REAL_TOPIC").map(String::as_str),
        Some("tracking-events")
    );
    eventually("the original acked", || {
        broker.backlog("tracking-events", "tracker") == Some(0)
    })
    .await;
    assert_no_message(&mut consumer, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_batch_is_one_entry_and_its_messages_are_acked_one_by_one() {
    let (broker, client) = start().await;
    let mut consumer = consumer(&client, "batched", "s", SubType::Exclusive).await;
    let mut producer = client
        .producer()
        .with_topic("batched")
        .with_options(pulsar::ProducerOptions {
            batch_size: Some(3),
            ..Default::default()
        })
        .build()
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for i in 0..3 {
        let receipt = producer
            .create_message()
            .with_content(format!("item-{i}"))
            .with_property("index", i.to_string())
            .send_non_blocking()
            .await
            .unwrap();
        receipts.push(receipt);
    }
    for receipt in receipts {
        receipt.await.unwrap();
    }

    let entries = broker.entries("batched");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].num_messages, 3);
    let stored = broker.messages("batched");
    let payloads: Vec<_> = stored
        .iter()
        .map(|m| String::from_utf8_lossy(&m.payload).into_owned())
        .collect();
    assert_eq!(payloads, ["item-0", "item-1", "item-2"]);
    assert_eq!(stored[2].id.batch_index, Some(2));
    assert_eq!(stored[2].properties.get("index").map(String::as_str), Some("2"));

    let received = [
        next(&mut consumer).await,
        next(&mut consumer).await,
        next(&mut consumer).await,
    ];
    assert!(received
        .iter()
        .zip(&stored)
        .all(|(message, stored)| stored.id.matches(message.message_id())));
    consumer.ack(&received[0]).await.unwrap();
    consumer.ack(&received[1]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        broker.backlog("batched", "s"),
        Some(1),
        "the entry waits for its last message"
    );
    consumer.ack(&received[2]).await.unwrap();
    eventually("the whole batch acked", || {
        broker.backlog("batched", "s") == Some(0)
    })
    .await;
}

#[tokio::test]
async fn seek_rewinds_and_last_message_id_reports_the_end() {
    let (_broker, client) = start().await;
    let mut producer = producer(&client, "rewind").await;
    for i in 0..3 {
        send(&mut producer, &format!("m{i}")).await;
    }
    let mut consumer = consumer(&client, "rewind", "s", SubType::Shared).await;
    let received = receive_and_ack(&mut consumer, 3).await;
    assert_eq!(received, ["m0", "m1", "m2"]);

    let last = consumer.get_last_message_id().await.unwrap();
    assert_eq!(last[0].entry_id, 2);

    let first_id = {
        let stored = _broker.messages("rewind");
        pulsar::proto::MessageIdData {
            ledger_id: stored[1].id.ledger_id,
            entry_id: stored[1].id.entry_id,
            ..Default::default()
        }
    };
    consumer
        .seek(None, Some(first_id), None, client.clone())
        .await
        .unwrap();
    assert_eq!(receive_and_ack(&mut consumer, 2).await, ["m1", "m2"]);
}

#[tokio::test]
async fn unsubscribe_deletes_the_subscription() {
    let (broker, client) = start().await;
    let mut producer = producer(&client, "notifications").await;
    send(&mut producer, "hello").await;
    let mut consumer = consumer(&client, "notifications", "mailer", SubType::Exclusive).await;
    next(&mut consumer).await;
    assert_eq!(broker.backlog("notifications", "mailer"), Some(1));
    consumer.unsubscribe().await.unwrap();
    assert_eq!(broker.backlog("notifications", "mailer"), None);
}

#[tokio::test]
async fn a_reader_starts_after_the_given_message() {
    let (broker, client) = start().await;
    let mut producer = producer(&client, "log").await;
    for i in 0..3 {
        send(&mut producer, &format!("line-{i}")).await;
    }
    let first = broker.messages("log")[0].id;
    let start = pulsar::proto::MessageIdData {
        ledger_id: first.ledger_id,
        entry_id: first.entry_id,
        ..Default::default()
    };
    let mut reader = client
        .reader()
        .with_topic("log")
        .with_options(ConsumerOptions::default().starting_on_message(start))
        .into_reader::<Vec<u8>>()
        .await
        .unwrap();
    let mut lines = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(WAIT, reader.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        lines.push(text(&message));
    }
    assert_eq!(lines, ["line-1", "line-2"]);
}
