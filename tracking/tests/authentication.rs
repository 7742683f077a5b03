//! `alpes tracking` against a broker that requires a token: with `TrackingConfig::token`,
//! its event consumers, its conversion-command consumer and the producer of their outcomes
//! all connect (each built from `TrackingConfig::pulsar_settings`, as `alpes tracking`
//! does); without it, the status shows the refusal. On the backend `ALPES_TEST_BACKEND`
//! names (Postgres by default).

mod common;

use auth::{Principal, Role};
use bus::commands::{CommandConsumerSettings, CommandTopics, PublishCommand, PulsarCommands};
use chrono::Utc;
use common::*;
use contract::v1::commands::{Command, RegisterConversion};
use pulsar_test_broker::TestBroker;
use secrecy::SecretString;
use std::time::Duration;
use tracking::TrackingConfig;
use uuid::Uuid;

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.tracking-token";

fn config(broker: &TestBroker, token: Option<&str>) -> TrackingConfig {
    TrackingConfig {
        token: token.map(SecretString::from),
        ..tracking_config(broker)
    }
}

#[tokio::test]
async fn with_the_token_it_consumes_the_events_and_runs_the_conversion_commands() {
    let db = TestDb::new().await;
    let broker = TestBroker::start_requiring_token(TOKEN).await;
    let config = config(&broker, Some(TOKEN));
    let pulsar = config.pulsar_settings();
    let mut tracking = start_tracking_with(&db, config).await;
    let topics = CommandTopics::default();
    let settings = CommandConsumerSettings {
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(300),
        ..CommandConsumerSettings::from_pulsar(pulsar.clone())
    };
    tracking.service.start_conversion_commands(settings, &topics);

    let mut campaign = CampaignStream::new();
    for event in campaign.active_with(&["p-1"]) {
        // The broker's own client brings the token it requires.
        broker
            .publish(CAMPAIGN_TOPIC, &serde_json::to_vec(&event).unwrap())
            .await;
    }
    tracking.applied(3).await;

    let conversion = Command::RegisterConversion(RegisterConversion {
        campaign_id: campaign.id.clone(),
        partner_id: "p-1".into(),
        occurred_at: None,
    })
    .message(Uuid::now_v7(), Utc::now());
    let commands = PulsarCommands::new(pulsar, topics.clone());
    commands
        .publish(&conversion)
        .await
        .expect("published with the token");
    let outcomes = broker
        .wait_for_messages(&topics.outcomes, 1, Duration::from_secs(20))
        .await;
    assert_eq!(outcomes.len(), 1, "the command ran and its outcome was published");
    let stats = tracking.stats(&campaign.id).await;
    assert_eq!(stats["conversions"]["count"], 1, "{stats}");

    // `GET /metrics` of `alpes tracking`: for operators (admin, reader) only; the
    // conversion commands' consumer and the pool read from their status.
    let url = format!("{}/metrics", tracking.address);
    let brand = client_as(&Principal::brand("brand-user", "b1"))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(brand.status(), 403);
    let metrics = client_as(&Principal::new("prometheus", Role::Reader))
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    let succeeded = format!(
        "alpes_seed_commands_succeeded_total{{consumer=\"{}\"}} 1",
        topics.register_conversion
    );
    assert!(metrics.contains(&succeeded), "{metrics}");
    assert!(
        metrics.contains("alpes_db_pool_max_connections{pool=\"tracking\"}"),
        "{metrics}"
    );
    commands.close().await;
    tracking.service.shutdown().await;
}

#[tokio::test]
async fn without_the_token_its_status_shows_the_refusal() {
    let db = TestDb::new().await;
    let broker = TestBroker::start_requiring_token(TOKEN).await;
    let tracking = start_tracking_with(&db, config(&broker, None)).await;

    eventually("every consumer to report the refusal", || async {
        let status = tracking.status().await;
        status["consumers"].as_array().is_some_and(|consumers| {
            consumers.len() == 2
                && consumers.iter().all(|consumer| {
                    consumer["state"] != "consuming"
                        && consumer["last_error"]
                            .as_str()
                            .is_some_and(|error| error.contains("fatal error when connecting"))
                })
        })
    })
    .await;
    assert_eq!(broker.consumers(CAMPAIGN_TOPIC, "tracking"), 0);
    tracking.service.shutdown().await;
}
