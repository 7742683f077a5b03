//! Producers with the `pulsar` crate: names, access modes, receipts.

mod common;

use std::time::Duration;

use common::*;
use pulsar::message::proto::ProducerAccessMode;
use pulsar::ProducerOptions;

#[tokio::test]
async fn producers_without_a_name_get_distinct_generated_names() {
    let (broker, client) = start().await;
    let mut first = producer(&client, "names").await;
    let mut second = producer(&client, "names").await;
    send(&mut first, "a").await;
    send(&mut second, "b").await;
    let stored = broker.messages("names");
    assert!(!stored[0].producer_name.is_empty());
    assert_ne!(stored[0].producer_name, stored[1].producer_name);
}

#[tokio::test]
async fn a_producer_name_already_connected_is_busy() {
    let (broker, client) = start().await;
    let _relay = client
        .producer()
        .with_topic("outbox")
        .with_name("relay")
        .build()
        .await
        .unwrap();
    let impatient = client_with(&broker, Duration::from_secs(2), 0).await;
    let duplicate = impatient
        .producer()
        .with_topic("outbox")
        .with_name("relay")
        .build()
        .await;
    let error = duplicate.err().expect("a duplicate name is refused").to_string();
    assert!(error.contains("ProducerBusy"), "{error}");
    // the name is free again once the first producer is gone
    drop(_relay);
    let mut again = None;
    for _ in 0..50 {
        again = impatient
            .producer()
            .with_topic("outbox")
            .with_name("relay")
            .build()
            .await
            .ok();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some());
}

#[tokio::test]
async fn exclusive_access_refuses_other_producers() {
    let (broker, client) = start().await;
    let exclusive = ProducerOptions {
        access_mode: Some(ProducerAccessMode::Exclusive as i32),
        ..Default::default()
    };
    let _owner = client
        .producer()
        .with_topic("single-writer")
        .with_options(exclusive.clone())
        .build()
        .await
        .unwrap();
    let impatient = client_with(&broker, Duration::from_secs(2), 0).await;
    let shared = impatient.producer().with_topic("single-writer").build().await;
    assert!(shared
        .err()
        .expect("refused")
        .to_string()
        .contains("ProducerBusy"));
    let other_exclusive = impatient
        .producer()
        .with_topic("single-writer")
        .with_options(exclusive)
        .build()
        .await;
    assert!(other_exclusive.is_err());
}

#[tokio::test]
async fn receipts_carry_the_stored_message_id() {
    let (broker, client) = start().await;
    let mut producer = producer(&client, "receipts").await;
    let first = producer.send_non_blocking("one").await.unwrap().await.unwrap();
    let second = producer.send_non_blocking("two").await.unwrap().await.unwrap();
    let stored = broker.messages("receipts");
    assert!(stored[0].id.matches(first.message_id.as_ref().unwrap()));
    assert!(stored[1].id.matches(second.message_id.as_ref().unwrap()));
    assert_eq!(stored[1].sequence_id, second.sequence_id);
}
