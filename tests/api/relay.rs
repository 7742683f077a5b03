//! `alpes serve` with `PULSAR_URL`: the outbox relay runs in the process and
//! `GET /relay` shows it. (The relay's guarantees are tested in `bus/tests/`.)

use crate::helpers::*;
use pulsar_test_broker::TestBroker;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn serve_publishes_committed_events_when_a_broker_is_configured() {
    let broker = TestBroker::start().await;
    let app = spawn_app_with(|settings| settings.relay = Some(bus::PulsarSettings::new(broker.url()))).await;

    let created = app.create_campaign_with(&campaign_body()).await;

    let messages = broker
        .wait_for_messages(bus::DEFAULT_CAMPAIGN_TOPIC, 2, Duration::from_secs(10))
        .await;
    let published: Vec<&str> = messages
        .iter()
        .map(|m| m.properties["event_id"].as_str())
        .collect();
    let committed: Vec<&str> = created["event_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    assert_eq!(published, committed);
    assert_eq!(
        messages[0].partition_key.as_deref(),
        created["aggregate_id"].as_str()
    );
    let event: Value = serde_json::from_slice(&messages[0].payload).unwrap();
    assert_eq!(event["type"], "alpes.campaign.created.v1");
    assert_eq!(event["id"], created["event_ids"][0]);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = app.get_json("/relay").await;
        if status["lag"] == 0 && status["state"] == "caught_up" {
            break status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never caught up: {status}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(status["last_publish_at"].is_string());
}

#[tokio::test]
async fn without_a_broker_there_is_no_relay_to_show() {
    let app = spawn_app().await;
    assert_problem(app.get("/relay").await, 404, "relay.not_running").await;
}
