//! Helpers shared by the integration tests: a `pulsar` client with short timeouts and backoffs,
//! and bounded waits for messages (a failing test fails in seconds, never hangs).

#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use futures::StreamExt;
use pulsar::consumer::Message;
use pulsar::SubType;
use pulsar::{
    ConnectionRetryOptions, Consumer, ConsumerOptions, OperationRetryOptions, Producer, Pulsar, TokioExecutor,
};
use pulsar_test_broker::TestBroker;

pub type Client = Pulsar<TokioExecutor>;

/// How long a test waits for something that should happen at once.
pub const WAIT: Duration = Duration::from_secs(10);

/// Logs of the broker and the client, shown by `cargo test -- --nocapture` with RUST_LOG set.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn start() -> (TestBroker, Client) {
    init_logs();
    let broker = TestBroker::start().await;
    let client = client(&broker).await;
    (broker, client)
}

/// A client that reconnects fast and gives up in seconds: tests fail fast instead of hanging.
pub async fn client(broker: &TestBroker) -> Client {
    Pulsar::builder(broker.url(), TokioExecutor)
        .with_connection_retry_options(ConnectionRetryOptions {
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            max_retries: 100,
            connection_timeout: Duration::from_secs(2),
            ..Default::default()
        })
        .with_operation_retry_options(OperationRetryOptions {
            operation_timeout: Duration::from_secs(2),
            retry_delay: Duration::from_millis(50),
            max_retries: Some(100),
        })
        .build()
        .await
        .expect("the client connects")
}

pub async fn producer(client: &Client, topic: &str) -> Producer<TokioExecutor> {
    client
        .producer()
        .with_topic(topic)
        .build()
        .await
        .expect("producer created")
}

pub async fn consumer(
    client: &Client,
    topic: &str,
    subscription: &str,
    sub_type: SubType,
) -> Consumer<Vec<u8>, TokioExecutor> {
    consumer_with(
        client,
        topic,
        subscription,
        sub_type,
        ConsumerOptions::default().with_initial_position(pulsar::consumer::InitialPosition::Earliest),
    )
    .await
}

pub async fn consumer_with(
    client: &Client,
    topic: &str,
    subscription: &str,
    sub_type: SubType,
    options: ConsumerOptions,
) -> Consumer<Vec<u8>, TokioExecutor> {
    client
        .consumer()
        .with_topic(topic)
        .with_subscription(subscription)
        .with_subscription_type(sub_type)
        .with_options(options)
        .build()
        .await
        .expect("consumer subscribed")
}

/// Sends and waits for the receipt.
pub async fn send(producer: &mut Producer<TokioExecutor>, payload: &str) {
    producer
        .send_non_blocking(payload)
        .await
        .expect("message queued")
        .await
        .expect("receipt received");
}

pub async fn next(consumer: &mut Consumer<Vec<u8>, TokioExecutor>) -> Message<Vec<u8>> {
    tokio::time::timeout(WAIT, consumer.next())
        .await
        .expect("a message within the timeout")
        .expect("the consumer is open")
        .expect("no consumer error")
}

/// Receives `count` messages, acknowledging each, and returns their payloads.
pub async fn receive_and_ack(consumer: &mut Consumer<Vec<u8>, TokioExecutor>, count: usize) -> Vec<String> {
    let mut payloads = Vec::new();
    for _ in 0..count {
        let message = next(consumer).await;
        consumer.ack(&message).await.expect("ack queued");
        payloads.push(text(&message));
    }
    payloads
}

pub async fn assert_no_message(consumer: &mut Consumer<Vec<u8>, TokioExecutor>, within: Duration) {
    if let Ok(Some(message)) = tokio::time::timeout(within, consumer.next()).await {
        panic!("unexpected message {:?}", message.map(|m| text(&m)));
    }
}

pub fn text(message: &Message<Vec<u8>>) -> String {
    String::from_utf8_lossy(&message.payload.data).into_owned()
}

/// Waits until `condition` holds, for at most [`WAIT`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A client with its own operation timeout and number of retries (e.g. none, to see an error
/// that the client would otherwise retry).
pub async fn client_with(broker: &TestBroker, operation_timeout: Duration, max_retries: u32) -> Client {
    Pulsar::builder(broker.url(), TokioExecutor)
        .with_connection_retry_options(ConnectionRetryOptions {
            min_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
            max_retries: 100,
            connection_timeout: Duration::from_secs(2),
            ..Default::default()
        })
        .with_operation_retry_options(OperationRetryOptions {
            operation_timeout,
            retry_delay: Duration::from_millis(50),
            max_retries: Some(max_retries),
        })
        .build()
        .await
        .expect("the client connects")
}
