//! End to end: commands over HTTP to the real application → events in the store → the
//! outbox relay → the Pulsar test broker → the tracking service.

mod common;

use alpes::settings::{BusSettings, DatabaseSettings, Settings};
use alpes::startup::Application;
use bus::{PulsarSettings, PulsarTransport, Relay, RelayConfig, RelayTask};
use common::*;
use pulsar_test_broker::TestBroker;
use serde_json::{json, Value};
use std::time::Duration;

/// The command API, on a random port over the test database; returns its base URL.
async fn start_app(db: &TestDb) -> String {
    let settings = Settings {
        bind: "127.0.0.1:0".parse().expect("an address"),
        database: DatabaseSettings {
            url: db.url.clone().into(),
            max_connections: 8,
        },
        aggregate_cache_capacity: 1000,
        consistency_timeout: Duration::from_secs(5),
        projectors: projections::ProjectorSettings::default(),
        // The tests run their own relay (killed and restarted at will).
        bus: BusSettings::Off,
        commands: Default::default(),
        http: alpes::server::HttpSettings::default(),
        auth: alpes::settings::AuthSettings::Tokens(auth::TokenSettings::secret(SECRET)),
        legacy_principal: None,
    };
    let app = Application::build(settings)
        .await
        .expect("the application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

fn relay_config() -> RelayConfig {
    RelayConfig {
        poll_interval: Duration::from_millis(100),
        checkpoint_interval: Duration::from_millis(20),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(300),
        lock_retry_interval: Duration::from_millis(50),
        lock_check_interval: Duration::from_millis(200),
        ..RelayConfig::default()
    }
}

fn spawn_relay(db: &TestDb, broker: &TestBroker, config: RelayConfig) -> RelayTask {
    let settings = PulsarSettings {
        operation_timeout: Duration::from_secs(1),
        ..PulsarSettings::new(broker.url())
    };
    Relay::new(db.db.clone(), PulsarTransport::new(settings), config).spawn()
}

async fn command(client: &reqwest::Client, url: String, body: Option<Value>) -> Value {
    let request = client.post(&url);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.expect("request sent");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.json().await.expect("a command answer")
}

/// Creates a campaign with one participant over HTTP; returns its id.
async fn create_campaign(client: &reqwest::Client, app: &str, partner_id: &str) -> String {
    let body = json!({
        "name": "Summer launch", "brand_id": "12dqweqwqdsxq",
        "budget": {"amount": "10000.00", "currency": "USD"},
        "participants": [{"partner_id": partner_id, "kind": "Influencer",
                          "name": "Alice Doe", "profile": "Fashion influencer"}]
    });
    let answer = command(client, format!("{app}/campaigns"), Some(body)).await;
    answer["aggregate_id"].as_str().expect("an id").to_owned()
}

fn conversion(campaign_id: &str, partner_id: &str) -> Value {
    json!({
        "campaign_id": campaign_id, "partner_id": partner_id,
        "occurred_at": 1_795_341_600_000_i64,
        "value": {"amount": "59.90", "currency": "EUR"}
    })
}

#[tokio::test]
async fn a_conversion_is_accepted_for_an_active_campaigns_participant_and_refused_once_it_is_paused() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let app = start_app(&db).await;
    let relay = spawn_relay(&db, &broker, relay_config());
    let tracking = start_tracking(&db, &broker).await;
    let client = client_as(&auth::Principal::new("test-admin", auth::Role::Admin));

    let campaign = create_campaign(&client, &app, "p-98765").await;
    command(&client, format!("{app}/campaigns/{campaign}/activate"), None).await;
    tracking.campaign_status(&campaign, "active").await;

    let response = tracking
        .post("/tracking/conversions", &conversion(&campaign, "p-98765"))
        .await;
    assert_eq!(response.status(), 201);
    let recorded: Value = response.json().await.unwrap();
    assert!(recorded["id"].is_string());
    assert_eq!(recorded["value"], json!({"amount": "59.90", "currency": "EUR"}));
    assert_eq!(recorded["occurred_at"], "2026-11-22T10:00:00Z");

    command(&client, format!("{app}/campaigns/{campaign}/pause"), None).await;
    tracking.campaign_status(&campaign, "paused").await;
    let refused = tracking
        .post("/tracking/conversions", &conversion(&campaign, "p-98765"))
        .await;
    assert_problem(refused, 422, "tracking.campaign_not_active").await;

    let stats = tracking.stats(&campaign).await;
    assert_eq!(
        stats["conversions"],
        json!({"count": 1, "value": [{"amount": "59.90", "currency": "EUR"}]})
    );
    let relay_status = relay.handle().status().await;
    assert_eq!(relay_status.lag, Some(0));
    relay.shutdown().await;
}

#[tokio::test]
async fn a_relay_killed_mid_stream_and_restarted_has_every_effect_exactly_once() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let app = start_app(&db).await;
    let client = client_as(&auth::Principal::new("test-admin", auth::Role::Admin));
    let mut campaigns = Vec::new();
    for n in 0..30 {
        let campaign = create_campaign(&client, &app, &format!("p-{n}")).await;
        command(&client, format!("{app}/campaigns/{campaign}/activate"), None).await;
        campaigns.push(campaign);
    }
    let committed = committed(&db.db).await;
    assert_eq!(committed, 90);

    // Slow receipts, a small window: killed with events sent and not yet checkpointed.
    broker.set_receipt_delay(Some(Duration::from_millis(20)));
    let config = RelayConfig {
        max_in_flight: 8,
        ..relay_config()
    };
    let relay = spawn_relay(&db, &broker, config.clone());
    let handle = relay.handle();
    eventually("the relay to be mid-stream", || async {
        handle.progress().checkpoint.is_some_and(|c| c.position >= 20)
    })
    .await;
    relay.abort().await;
    broker.set_receipt_delay(None);
    let tracking = start_tracking(&db, &broker).await;
    let relay = spawn_relay(&db, &broker, config);

    tracking.applied(committed).await;
    eventually("the relay to catch up", || async {
        relay.handle().status().await.lag == Some(0)
    })
    .await;
    eventually("tracking to see every message", || async {
        broker.backlog(CAMPAIGN_TOPIC, "tracking") == Some(0)
    })
    .await;
    let published = broker.messages(CAMPAIGN_TOPIC).len() as i64;
    let status = tracking.status().await;
    assert_eq!(status["events_applied"], committed, "every event applied once");
    assert_eq!(
        status["duplicates_ignored"].as_i64(),
        Some(published - committed),
        "every resent event recognised"
    );
    for (n, campaign) in campaigns.iter().enumerate() {
        let click = json!({"campaign_id": campaign, "partner_id": format!("p-{n}")});
        assert_eq!(tracking.post("/tracking/clicks", &click).await.status(), 201);
    }
    relay.shutdown().await;
}
