//! Token authentication against a test broker that requires a token: every Pulsar client
//! of the bus (the relay's transport, the command publisher, the command consumers and
//! their outcomes' producers) brings `PulsarSettings::token`, and without it the refusal
//! is reported, quickly, instead of hanging. On the backend `ALPES_TEST_BACKEND` names.

mod common;

use async_trait::async_trait;
use bus::commands::{
    spawn_command_consumers, CommandTopics, PublishCommand, PublishOutcomes, PulsarCommands,
};
use bus::{PublishError, PulsarSettings, PulsarTransport, RelayState, Transport};
use common::*;
use pulsar_test_broker::TestBroker;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{CommandToRun, Outcome, RunCommand, RunResult};

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.relay-token";

/// How the `pulsar` crate (6.9) reports a broker's refusal of its CONNECT: a fatal
/// connection error, without the broker's reason (pulsar-rs issue #292).
const REFUSED: &str = "fatal error when connecting to the Pulsar server";

/// The tests' settings (short timeouts) with this token.
fn settings(broker: &TestBroker, token: Option<&str>) -> PulsarSettings {
    PulsarSettings {
        token: token.map(SecretString::from),
        ..pulsar_settings(broker)
    }
}

fn relay_with(db: &TestDb, settings: PulsarSettings) -> bus::RelayTask {
    init_logs();
    bus::Relay::new(db.db.clone(), PulsarTransport::new(settings), relay_config()).spawn()
}

#[tokio::test]
async fn a_relay_with_the_token_publishes_to_a_broker_that_requires_one() {
    let db = TestDb::new().await;
    let broker = TestBroker::start_requiring_token(TOKEN).await;
    let writer = Writer::new(&db.db);
    writer.create_campaign(&["p-1"]).await;
    writer.register_partner().await;

    let relay = relay_with(&db, settings(&broker, Some(TOKEN)));
    caught_up(&relay.handle()).await;
    let messages = published(&broker);
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages
            .iter()
            .map(|m| m.event_id)
            .collect::<std::collections::HashSet<_>>(),
        committed_events(&db.db).await.keys().copied().collect()
    );
    assert!(relay.handle().progress().last_error.is_none());
    relay.shutdown().await;
}

#[tokio::test]
async fn a_relay_without_the_right_token_reports_the_refusal_and_publishes_nothing() {
    for token in [None, Some("eyJhbGciOiJIUzI1NiJ9.not-the-token")] {
        let db = TestDb::new().await;
        let broker = TestBroker::start_requiring_token(TOKEN).await;
        Writer::new(&db.db).create_campaign(&["p-1"]).await;

        let relay = relay_with(&db, settings(&broker, token));
        let handle = relay.handle();
        eventually("the relay to back off with the broker's refusal", || async {
            let progress = handle.progress();
            progress.state == RelayState::BackingOff
                && progress.last_error.is_some_and(|error| error.contains(REFUSED))
        })
        .await;
        assert_eq!(handle.status().await.lag, Some(2), "nothing counts as published");
        assert!(published(&broker).is_empty());
        relay.shutdown().await;
    }
}

#[tokio::test]
async fn connecting_without_the_token_fails_at_once_instead_of_retrying() {
    init_logs();
    let broker = TestBroker::start_requiring_token(TOKEN).await;
    let transport = PulsarTransport::new(settings(&broker, None));
    let started = Instant::now();
    let outcome = tokio::time::timeout(WAIT, transport.connect())
        .await
        .expect("the connection attempt ends");
    match outcome {
        Err(PublishError::Connect(error)) => assert!(error.contains(REFUSED), "{error}"),
        Err(other) => panic!("not a connection error: {other}"),
        Ok(_) => panic!("connected without the token"),
    }
    // The client does not retry an authentication error: no backoff rounds.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// Answers every command with a success.
struct Succeeds;

#[async_trait]
impl RunCommand for Succeeds {
    async fn run(&self, _command: &CommandToRun) -> RunResult {
        RunResult::Done(Outcome::Succeeded(serde_json::json!({"ok": true})))
    }
}

#[tokio::test]
async fn commands_and_their_outcomes_go_through_a_broker_that_requires_a_token() {
    init_logs();
    let broker = TestBroker::start_requiring_token(TOKEN).await;
    let pulsar = settings(&broker, Some(TOKEN));
    let topics = CommandTopics::default();
    let outcomes = Arc::new(PublishOutcomes::new(pulsar.clone(), topics.outcomes.clone()));
    let consumers = spawn_command_consumers(
        command_consumer_settings(pulsar.clone()),
        topics.serve_subscriptions(),
        Arc::new(Succeeds),
        outcomes.clone(),
    );
    let publisher = PulsarCommands::new(pulsar, topics.clone());
    let command = register_campaign("c-1");
    publisher
        .publish(&command)
        .await
        .expect("published with the token");

    let sent = broker.wait_for_messages(&topics.outcomes, 1, WAIT).await;
    assert_eq!(sent.len(), 1, "the consumer ran it and its outcome was published");
    assert!(String::from_utf8_lossy(&sent[0].payload).contains(&command.id.to_string()));
    consumers.shutdown().await;
    publisher.close().await;
    outcomes.close().await;
}

#[tokio::test]
async fn commands_cannot_be_published_or_consumed_without_the_token() {
    init_logs();
    let broker = TestBroker::start_requiring_token(TOKEN).await;
    let pulsar = settings(&broker, None);
    let topics = CommandTopics::default();
    let publisher = PulsarCommands::new(pulsar.clone(), topics.clone());
    let refused = tokio::time::timeout(WAIT, publisher.publish(&register_campaign("c-1")))
        .await
        .expect("the publication ends")
        .expect_err("refused without the token");
    assert!(refused.to_string().contains(REFUSED), "{refused}");

    let consumers = spawn_command_consumers(
        command_consumer_settings(pulsar.clone()),
        topics.serve_subscriptions(),
        Arc::new(Succeeds),
        Arc::new(PublishOutcomes::new(pulsar, topics.outcomes.clone())),
    );
    eventually("the consumers to report the refusal", || async {
        consumers.handle().status().iter().all(|status| {
            status
                .last_error
                .as_deref()
                .is_some_and(|error| error.contains(REFUSED))
        })
    })
    .await;
    assert!(broker.topics().is_empty(), "no subscription was made");
    consumers.shutdown().await;
}
