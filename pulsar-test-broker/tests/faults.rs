//! Each fault hook, followed by the `pulsar` client recovering from it.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;
use pulsar::SubType;

#[tokio::test]
async fn clients_reconnect_after_dropped_connections() {
    let (broker, client) = start().await;
    let mut consumer = consumer(&client, "orders", "s", SubType::Exclusive).await;
    let mut producer = producer(&client, "orders").await;
    send(&mut producer, "before").await;
    assert_eq!(receive_and_ack(&mut consumer, 1).await, ["before"]);
    eventually("the ack", || broker.backlog("orders", "s") == Some(0)).await;

    assert!(broker.drop_connections() >= 1);
    send(&mut producer, "after").await;
    assert_eq!(receive_and_ack(&mut consumer, 1).await, ["after"]);
    assert_eq!(broker.consumers("orders", "s"), 1);
}

#[tokio::test]
async fn a_broker_down_for_a_while_keeps_its_topics() {
    let (broker, client) = start().await;
    let mut consumer = consumer(&client, "orders", "s", SubType::Exclusive).await;
    let mut producer = producer(&client, "orders").await;
    send(&mut producer, "before").await;
    assert_eq!(receive_and_ack(&mut consumer, 1).await, ["before"]);
    eventually("the ack", || broker.backlog("orders", "s") == Some(0)).await;

    broker.go_down(Duration::from_millis(300)).await;
    // refused while down: a new client cannot even connect
    assert!(tokio::net::TcpStream::connect(broker.addr()).await.is_err());
    let started = Instant::now();
    send(&mut producer, "during").await;
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "sent while the broker was down"
    );
    assert_eq!(receive_and_ack(&mut consumer, 1).await, ["during"]);
    assert_eq!(broker.messages("orders").len(), 2);
    eventually("the ack after the restart", || {
        broker.backlog("orders", "s") == Some(0)
    })
    .await;
}

#[tokio::test]
async fn set_down_until_told_otherwise() {
    let (broker, _client) = start().await;
    broker.set_down(true).await;
    assert!(tokio::net::TcpStream::connect(broker.addr()).await.is_err());
    broker.set_down(false).await;
    let client = client(&broker).await;
    let mut producer = producer(&client, "t").await;
    send(&mut producer, "up").await;
}

#[tokio::test]
async fn producers_closed_by_the_broker_are_recreated() {
    let (broker, client) = start().await;
    let mut producer = producer(&client, "outbox").await;
    send(&mut producer, "one").await;
    let name = broker.producers("outbox");
    assert_eq!(broker.close_producers("outbox"), 1);
    assert!(broker.producers("outbox").is_empty());
    send(&mut producer, "two").await;
    assert_eq!(broker.producers("outbox"), name, "re-created under the same name");
    let payloads: Vec<_> = broker.messages("outbox").into_iter().map(|m| m.payload).collect();
    assert_eq!(payloads, [b"one".to_vec(), b"two".to_vec()]);
}

#[tokio::test]
async fn consumers_closed_by_the_broker_resubscribe_and_get_unacked_messages_again() {
    let (broker, client) = start().await;
    let mut producer = producer(&client, "events").await;
    send(&mut producer, "acked").await;
    send(&mut producer, "unacked").await;
    let mut consumer = consumer(&client, "events", "s", SubType::Shared).await;
    assert_eq!(receive_and_ack(&mut consumer, 1).await, ["acked"]);
    assert_eq!(text(&next(&mut consumer).await), "unacked");
    eventually("the ack", || broker.backlog("events", "s") == Some(1)).await;

    assert_eq!(broker.close_consumers("events"), 1);
    assert_eq!(broker.consumers("events", "s"), 0);
    // the unacknowledged message comes again once the consumer has subscribed again
    assert_eq!(receive_and_ack(&mut consumer, 1).await, ["unacked"]);
    send(&mut producer, "later").await;
    assert_eq!(receive_and_ack(&mut consumer, 1).await, ["later"]);
}

#[tokio::test]
async fn delayed_receipts_arrive_late() {
    let (broker, client) = start().await;
    let mut producer = producer(&client, "slow").await;
    broker.set_receipt_delay(Some(Duration::from_millis(300)));
    let started = Instant::now();
    send(&mut producer, "late").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    broker.set_receipt_delay(None);
    send(&mut producer, "on time").await;
    assert_eq!(broker.messages("slow").len(), 2);
}

#[tokio::test]
async fn a_dropped_receipt_fails_the_send_but_the_message_is_stored() {
    let (broker, _) = start().await;
    let client = client_with(&broker, Duration::from_millis(500), 10).await;
    let mut producer = producer(&client, "lossy").await;
    broker.drop_receipts(1);
    let lost = producer.send_non_blocking("lost receipt").await.unwrap().await;
    assert!(lost.is_err(), "no receipt, no success");
    // the client reconnects; a resend is a duplicate, as with a real broker
    send(&mut producer, "lost receipt").await;
    let payloads: Vec<_> = broker.messages("lossy").into_iter().map(|m| m.payload).collect();
    assert_eq!(payloads, [b"lost receipt".to_vec(), b"lost receipt".to_vec()]);
}

#[tokio::test]
async fn redeliver_all_duplicates_acknowledged_messages() {
    let (broker, client) = start().await;
    let mut producer = producer(&client, "clicks").await;
    send(&mut producer, "c1").await;
    send(&mut producer, "c2").await;
    let mut consumer = consumer(&client, "clicks", "tracker", SubType::Shared).await;
    assert_eq!(receive_and_ack(&mut consumer, 2).await, ["c1", "c2"]);
    eventually("the acks", || broker.backlog("clicks", "tracker") == Some(0)).await;

    assert_eq!(broker.redeliver_all("clicks", "tracker"), Some(2));
    assert_eq!(receive_and_ack(&mut consumer, 2).await, ["c1", "c2"]);
    assert_eq!(broker.redeliver_all("clicks", "nobody"), None);
}

#[tokio::test]
async fn a_malformed_frame_closes_only_its_connection() {
    let (broker, client) = start().await;
    let addr = broker.addr();
    let read = tokio::task::spawn_blocking(move || {
        let mut raw = std::net::TcpStream::connect(addr).unwrap();
        raw.set_read_timeout(Some(WAIT)).unwrap();
        // a frame whose command is not protobuf
        raw.write_all(&[0, 0, 0, 6, 0, 0, 0, 2, 0xff, 0xff]).unwrap();
        raw.read(&mut [0u8; 16])
    })
    .await
    .unwrap();
    assert!(
        matches!(read, Ok(0)),
        "the broker closes the connection: {read:?}"
    );

    let mut producer = producer(&client, "still-up").await;
    send(&mut producer, "fine").await;
}
