//! `alpes serve` with `PULSAR_URL`: the outbox relay runs in the process and
//! `GET /relay` shows it. (The relay's guarantees are tested in `bus/tests/`.)

use crate::helpers::*;
use alpes::settings::BusSettings;
use pulsar_test_broker::TestBroker;
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn serve_publishes_committed_events_when_a_broker_is_configured() {
    let broker = TestBroker::start().await;
    let app =
        spawn_app_with(|settings| settings.bus = BusSettings::Pulsar(bus::PulsarSettings::new(broker.url())))
            .await;

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
async fn with_the_relay_off_there_is_no_relay_to_show() {
    let app = spawn_app_with(|settings| settings.bus = BusSettings::Off).await;
    assert_problem(app.get("/relay").await, 404, "relay.not_running").await;
}

/// POSTs a click until the tracking view knows the campaign is active (it learns it
/// from the bus, a moment after the command), then returns the answer.
async fn click_when_tracked(app: &TestApp, campaign: &str, external_id: &str) -> Value {
    let body = serde_json::json!({
        "campaign_id": campaign, "partner_id": "p-98765", "external_id": external_id
    });
    // Long enough for a restarted relay to take over a crashed one's SQLite lease (15 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let response = app.post_json("/tracking/clicks", &body).await;
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        if status == 201 {
            return answer;
        }
        assert_eq!(
            status, 422,
            "only 'not active yet' is expected meanwhile: {answer}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the tracking service never saw the campaign: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn without_a_broker_the_relay_feeds_the_tracking_service_of_the_same_process() {
    // Arrange: the default, in-process bus.
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    accepted(app.post(&format!("/campaigns/{id}/activate")).await, 200).await;

    // Act: a click on the same listener.
    let click = click_when_tracked(&app, &id, "click-1").await;

    // Assert
    assert_eq!(click["campaign_id"], id.as_str());
    let stats = app.get_json(&format!("/tracking/campaigns/{id}/stats")).await;
    assert_eq!(stats["clicks"], 1, "{stats}");
    let relay = app.get_json("/relay").await;
    assert!(relay["state"].is_string(), "{relay}");
    let tracking = app.get_json("/tracking/status").await;
    assert!(!tracking.is_null());
}

#[tokio::test]
async fn the_in_process_bus_loses_nothing_across_a_crash_and_a_restart() {
    // Arrange: history, then a crash (the relay dies with the instance) before the
    // tracking service may have seen it all.
    let app = spawn_app().await;
    let mut campaigns = Vec::new();
    for _ in 0..5 {
        let id = app.create_campaign().await;
        accepted(app.post(&format!("/campaigns/{id}/activate")).await, 200).await;
        campaigns.push(id);
    }
    app.instance().kill();

    // Act: a new process over the same database.
    let second = start_on(&app.database_url).await;
    let restarted = app.attach(&second);

    // Assert: every campaign reaches tracking, and clicks recorded before a restart stay.
    for (n, id) in campaigns.iter().enumerate() {
        click_when_tracked(&restarted, id, &format!("click-{n}")).await;
    }
    second.kill();
    let third = start_on(&app.database_url).await;
    let after = app.attach(&third);
    for id in &campaigns {
        let stats = after.get_json(&format!("/tracking/campaigns/{id}/stats")).await;
        assert_eq!(stats["clicks"], 1, "{stats}");
    }
    third.kill();
}
