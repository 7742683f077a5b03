//! `alpes tracking`'s conversion commands on Pulsar (the test broker): consumed on
//! `sub-com-registrar-evento-conversion`, run as `POST /tracking/conversions` would, each
//! outcome published to the outcomes topic before the acknowledgement; a redelivered
//! command records nothing twice; poison goes to the dead-letter topic; the counts show
//! in `GET /tracking/status`.

mod common;

use bus::commands::{
    dead_letter_topic, CommandConsumerSettings, CommandTopics, OutcomeMessage, OutcomeStatus, PublishCommand,
    PulsarCommands,
};
use bus::PulsarSettings;
use chrono::Utc;
use common::*;
use contract::v1::commands::{Command, CommandMessage, Issuer, RegisterConversion};
use pulsar_test_broker::TestBroker;
use std::time::Duration;
use uuid::Uuid;

fn pulsar(broker: &TestBroker) -> PulsarSettings {
    PulsarSettings {
        operation_timeout: Duration::from_secs(2),
        connection_timeout: Duration::from_secs(1),
        ..PulsarSettings::new(broker.url())
    }
}

fn conversion(campaign_id: &str, partner_id: &str) -> CommandMessage<serde_json::Value> {
    Command::RegisterConversion(RegisterConversion {
        campaign_id: campaign_id.to_owned(),
        partner_id: partner_id.to_owned(),
        occurred_at: None,
    })
    .message(Uuid::now_v7(), Utc::now())
}

/// The outcomes published so far, by command id order of arrival.
fn outcomes(broker: &TestBroker, topics: &CommandTopics) -> Vec<OutcomeMessage> {
    broker
        .messages(&topics.outcomes)
        .iter()
        .map(|message| serde_json::from_slice(&message.payload).expect("an outcome message"))
        .collect()
}

/// The tracking service running conversion commands, over a view where one campaign is
/// active with participant p-1 (its id returned).
async fn running_conversions(db: &TestDb, broker: &TestBroker, topics: &CommandTopics) -> (Tracking, String) {
    let mut tracking = start_tracking(db, broker).await;
    let settings = CommandConsumerSettings {
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(300),
        ..CommandConsumerSettings::from_pulsar(pulsar(broker))
    };
    tracking.service.start_conversion_commands(settings, topics);
    let mut publisher = EventPublisher::new(broker).await;
    let mut campaign = CampaignStream::new();
    for event in campaign.active_with(&["p-1"]) {
        publisher.publish(&event).await;
    }
    tracking.applied(3).await;
    (tracking, campaign.id)
}

#[tokio::test]
async fn conversion_commands_are_run_and_their_outcomes_published() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let topics = CommandTopics::default();
    let (tracking, campaign) = running_conversions(&db, &broker, &topics).await;

    let commands = PulsarCommands::new(pulsar(&broker), topics.clone());
    let good = conversion(&campaign, "p-1");
    commands.publish(&good).await.expect("published");
    let stranger = conversion(&campaign, "p-2");
    commands.publish(&stranger).await.expect("published");
    // A redelivery: the same command again.
    commands.publish(&good).await.expect("published again");
    let poison = topics.register_conversion.clone();
    broker.publish(&poison, b"not json").await;

    let published = broker
        .wait_for_messages(&topics.outcomes, 3, Duration::from_secs(20))
        .await;
    assert_eq!(published.len(), 3, "{published:?}");
    assert_eq!(
        published[0].partition_key.as_deref(),
        Some(good.id.to_string().as_str())
    );
    let outcomes = outcomes(&broker, &topics);
    assert_eq!(outcomes[0].command_id, good.id);
    assert_eq!(outcomes[0].status, OutcomeStatus::Succeeded);
    assert_eq!(outcomes[0].payload, good.data);
    let conversion_id = outcomes[0].result["conversion_id"].clone();
    assert!(conversion_id.is_string(), "{:?}", outcomes[0].result);
    assert_eq!(outcomes[1].command_id, stranger.id);
    assert_eq!(outcomes[1].status, OutcomeStatus::Failed);
    assert_eq!(outcomes[1].result["status"], 422, "{:?}", outcomes[1].result);
    // The redelivered command: the same answer, nothing recorded twice.
    assert_eq!(outcomes[2].command_id, good.id);
    assert_eq!(outcomes[2].result["conversion_id"], conversion_id);
    let stats = tracking.stats(&campaign).await;
    assert_eq!(stats["conversions"]["count"], 1, "{stats}");

    let dead = broker
        .wait_for_messages(&dead_letter_topic(&poison), 1, Duration::from_secs(20))
        .await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].properties.contains_key("reason"));

    eventually("the status to count every message", || async {
        let status = tracking.status().await;
        status["command_consumers"][0]["dead_lettered"] == 1
    })
    .await;
    let status = tracking.status().await;
    let consumer = &status["command_consumers"][0];
    assert_eq!(consumer["subscription"], "sub-com-registrar-evento-conversion");
    assert_eq!(consumer["topic"], topics.register_conversion.as_str());
    assert_eq!(consumer["state"], "consuming");
    assert_eq!(consumer["received"], 4);
    assert_eq!(consumer["succeeded"], 2);
    assert_eq!(consumer["failed"], 1);
    // Acknowledged, after the outcomes (the acknowledgements reach the broker just after).
    eventually("every command acknowledged", || async {
        broker.backlog(&topics.register_conversion, "sub-com-registrar-evento-conversion") == Some(0)
    })
    .await;
    tracking.service.shutdown().await;
}

#[tokio::test]
async fn the_status_shows_no_command_consumer_until_one_is_started() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let tracking = start_tracking(&db, &broker).await;
    let status = tracking.status().await;
    assert!(status.get("command_consumers").is_none(), "{status}");
    tracking.service.shutdown().await;
}

#[tokio::test]
async fn a_conversion_runs_only_for_an_issuer_that_may_record_one() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let topics = CommandTopics::default();
    let (tracking, campaign) = running_conversions(&db, &broker, &topics).await;

    let issuer = |role: &str| Issuer {
        sub: format!("t-{role}"),
        role: role.to_owned(),
        brand_id: None,
        partner_id: None,
    };
    let commands = PulsarCommands::new(pulsar(&broker), topics.clone());
    let by_reader = conversion(&campaign, "p-1").issued_by(Some(issuer("reader")));
    commands.publish(&by_reader).await.expect("published");
    let by_tracker = conversion(&campaign, "p-1").issued_by(Some(issuer("tracker")));
    commands.publish(&by_tracker).await.expect("published");

    broker
        .wait_for_messages(&topics.outcomes, 2, Duration::from_secs(20))
        .await;
    let outcomes = outcomes(&broker, &topics);
    assert_eq!(outcomes[0].command_id, by_reader.id);
    assert_eq!(outcomes[0].status, OutcomeStatus::Failed);
    assert_eq!(outcomes[0].result["status"], 403, "{:?}", outcomes[0].result);
    assert_eq!(outcomes[0].result["code"], "auth.forbidden");
    assert_eq!(outcomes[1].command_id, by_tracker.id);
    assert_eq!(outcomes[1].status, OutcomeStatus::Succeeded);
    let stats = tracking.stats(&campaign).await;
    assert_eq!(stats["conversions"]["count"], 1, "{stats}");
    tracking.service.shutdown().await;
}
