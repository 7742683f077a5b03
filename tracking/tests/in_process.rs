//! The tracking service fed by the in-process bus (no broker), end to end: commands
//! through the store's executor → events in the log → the relay → the in-process bus →
//! the tracking view → clicks and conversions. Crashes lose nothing, duplicates change
//! nothing, a failing database holds the relay until it is back, poison messages are
//! dead-lettered. On the backend `ALPES_TEST_BACKEND` names (Postgres by default); the
//! poison test needs SQLite (see its comment).

mod common;

use aggregates::campaign::{Campaign, CampaignCommand, MoneyInput, ParticipantInput};
use async_trait::async_trait;
use bus::{
    DeliveryError, EventStream, InProcessTransport, OutgoingMessage, Publisher, Relay, RelayConfig,
    RelayTask, Subscriber, Transport,
};
use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use store::LogCursor;
use store::{AlpesEventStore, CommandExecutor, CommandOptions, Database, EventLog};
use uuid::Uuid;

/// Runs campaign commands against the store, as the API does.
struct Campaigns(CommandExecutor<Campaign>);

impl Campaigns {
    fn new(database: &Database) -> Campaigns {
        let log = EventLog::new(database.clone());
        Campaigns(CommandExecutor::new(AlpesEventStore::new(log, vec![], 1000), ()))
    }

    /// A draft campaign with one participant: two events.
    async fn create(&self, partner_id: &str) -> String {
        let id = Uuid::now_v7().to_string();
        let command = CampaignCommand::CreateCampaign {
            name: "Summer launch".into(),
            brand_id: "brand-1".into(),
            budget: MoneyInput {
                amount: "10000".into(),
                currency: "USD".into(),
            },
            starts_at: None,
            ends_at: None,
            participants: vec![ParticipantInput {
                partner_id: partner_id.into(),
                kind: "influencer".into(),
                name: "Alice Doe".into(),
                profile: String::new(),
            }],
        };
        self.run(&id, command).await;
        id
    }

    async fn run(&self, id: &str, command: CampaignCommand) {
        self.0
            .execute(id, command, CommandOptions::default())
            .await
            .expect("command accepted");
    }

    /// `count` active campaigns, each with participant `p-<n>`: three events each.
    async fn active(&self, count: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for n in 0..count {
            let id = self.create(&format!("p-{n}")).await;
            self.run(&id, CampaignCommand::Activate).await;
            ids.push(id);
        }
        ids
    }
}

fn relay_config() -> RelayConfig {
    RelayConfig {
        poll_interval: Duration::from_millis(100),
        checkpoint_interval: Duration::from_millis(20),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(300),
        lock_retry_interval: Duration::from_millis(50),
        lock_check_interval: Duration::from_millis(200),
        drain_timeout: Duration::from_secs(2),
        ..RelayConfig::in_process()
    }
}

fn spawn_relay(db: &TestDb, transport: &InProcessTransport, config: RelayConfig) -> RelayTask {
    Relay::new(db.db.clone(), transport.clone(), config).spawn()
}

async fn caught_up(relay: &RelayTask) {
    let handle = relay.handle();
    eventually("the relay to catch up", || async {
        handle.status().await.lag == Some(0)
    })
    .await;
}

#[tokio::test]
async fn commands_reach_the_view_through_the_in_process_bus_and_clicks_are_accepted() {
    let db = TestDb::new().await;
    let transport = in_process_transport();
    let tracking = start_in_process_tracking(&db, &transport).await;
    let relay = spawn_relay(&db, &transport, relay_config());
    let campaigns = Campaigns::new(&db.db);

    let campaign = campaigns.create("p-98765").await;
    campaigns.run(&campaign, CampaignCommand::Activate).await;
    tracking.campaign_status(&campaign, "active").await;
    let click = json!({"campaign_id": campaign, "partner_id": "p-98765", "external_id": "click-1"});
    let response = tracking.post("/tracking/clicks", &click).await;
    assert_eq!(response.status(), 201);
    let first: Value = response.json().await.unwrap();
    let again: Value = tracking
        .post("/tracking/clicks", &click)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, first, "a repeated external id answers the first click");
    let conversion = json!({"campaign_id": campaign, "partner_id": "p-98765",
                            "occurred_at": 1_795_341_600_000_i64,
                            "value": {"amount": "59.90", "currency": "EUR"}});
    let response = tracking.post("/tracking/conversions", &conversion).await;
    assert_eq!(response.status(), 201);
    let recorded: Value = response.json().await.unwrap();
    assert_eq!(recorded["occurred_at"], "2026-11-22T10:00:00Z");
    assert_eq!(recorded["value"], json!({"amount": "59.90", "currency": "EUR"}));

    campaigns.run(&campaign, CampaignCommand::Pause).await;
    tracking.campaign_status(&campaign, "paused").await;
    let unkeyed = json!({"campaign_id": campaign, "partner_id": "p-98765"});
    let refused = tracking.post("/tracking/clicks", &unkeyed).await;
    assert_problem(refused, 422, "tracking.campaign_not_active").await;

    let stats = tracking.stats(&campaign).await;
    assert_eq!(stats["clicks"], 1);
    assert_eq!(
        stats["conversions"],
        json!({"count": 1, "value": [{"amount": "59.90", "currency": "EUR"}]})
    );
    let status = tracking.status().await;
    assert_eq!(status["feed"], "in_process");
    assert_eq!(status["subscription"], "tracking");
    assert_eq!(status["subscription_type"], "in_process");
    assert!(status["dead_letter_table"]
        .as_str()
        .is_some_and(|table| table.ends_with("dead_letters")));
    assert!(status.get("dead_letter_topic").is_none());
    assert_eq!(status["events_applied"], 4);
    assert_eq!(status["last_event"]["type"], "alpes.campaign.paused.v1");
    assert_eq!(status["consumers"][0]["topic"], "in-process");
    assert_eq!(status["consumers"][0]["state"], "consuming");
    assert_eq!(status["consumers"][0]["received"], 4);
    caught_up(&relay).await;
    relay.shutdown().await;
}

/// A subscriber that only takes its time: paces the bus so that a relay can be killed
/// mid-stream.
struct Slow(Duration);

#[async_trait]
impl Subscriber for Slow {
    fn name(&self) -> &str {
        "slow"
    }

    async fn deliver(&self, _: &OutgoingMessage) -> Result<(), DeliveryError> {
        tokio::time::sleep(self.0).await;
        Ok(())
    }

    async fn dead_letter(&self, _: &OutgoingMessage, _: &str) -> Result<(), String> {
        Ok(())
    }
}

#[tokio::test]
async fn a_relay_killed_mid_stream_loses_nothing_and_duplicates_change_nothing() {
    let db = TestDb::new().await;
    let campaigns = Campaigns::new(&db.db);
    let ids = campaigns.active(40).await;
    let committed = committed(&db.db).await;
    assert_eq!(committed, 120);
    let transport = in_process_transport();
    let tracking = start_in_process_tracking(&db, &transport).await;
    transport.subscribe(Arc::new(Slow(Duration::from_millis(5))));
    let config = RelayConfig {
        max_in_flight: 4,
        ..relay_config()
    };

    let relay = spawn_relay(&db, &transport, config.clone());
    let handle = relay.handle();
    eventually("the relay to be mid-stream", || async {
        handle.progress().checkpoint.is_some_and(|c| c.position >= 20)
    })
    .await;
    relay.abort().await;
    assert!(
        tracking.status().await["events_applied"].as_i64() < Some(committed),
        "killed mid-stream"
    );

    let relay = spawn_relay(&db, &transport, config.clone());
    tracking.applied(committed).await;
    caught_up(&relay).await;
    let status = tracking.status().await;
    assert_eq!(status["events_applied"], committed, "every event applied once");
    let before: Vec<Value> = futures::future::join_all(ids.iter().map(|id| tracking.stats(id))).await;

    // The checkpoint lost (the worst case): everything is delivered again, and ignored.
    relay.shutdown().await;
    let duplicates_before = status["duplicates_ignored"].as_i64().unwrap();
    test_support::execute(&db.db, "DELETE FROM relay_checkpoints", &[]).await;
    let relay = spawn_relay(&db, &transport, config);
    eventually("every event delivered again", || async {
        tracking.status().await["duplicates_ignored"].as_i64() >= Some(duplicates_before + committed)
    })
    .await;
    caught_up(&relay).await;
    let status = tracking.status().await;
    assert_eq!(status["events_applied"], committed, "nothing applied twice");
    assert_eq!(
        status["duplicates_ignored"].as_i64(),
        Some(duplicates_before + committed)
    );
    let after: Vec<Value> = futures::future::join_all(ids.iter().map(|id| tracking.stats(id))).await;
    assert_eq!(after, before, "the view is unchanged");
    for (n, id) in ids.iter().enumerate() {
        let click = json!({"campaign_id": id, "partner_id": format!("p-{n}")});
        assert_eq!(tracking.post("/tracking/clicks", &click).await.status(), 201);
    }
    relay.shutdown().await;
}

#[tokio::test]
async fn a_tracking_database_failure_holds_the_relay_until_it_recovers() {
    let db = TestDb::new().await;
    let transport = in_process_transport();
    let tracking = start_in_process_tracking(&db, &transport).await;
    let relay = spawn_relay(&db, &transport, relay_config());
    let handle = relay.handle();
    let campaigns = Campaigns::new(&db.db);
    campaigns.active(1).await;
    tracking.applied(3).await;
    caught_up(&relay).await;

    // The view's table is gone: every event fails, and is not the event's fault.
    rename_table(&db.db, "applied_events", "applied_events_away").await;
    let campaign = campaigns.create("p-7").await;
    campaigns.run(&campaign, CampaignCommand::Activate).await;
    eventually("the relay to back off", || async {
        let progress = handle.progress();
        progress.state == bus::RelayState::BackingOff
            && progress
                .last_error
                .is_some_and(|e| e.contains("subscriber tracking"))
    })
    .await;
    assert_eq!(handle.status().await.lag, Some(3), "nothing counts as delivered");
    let status = tracking.status().await;
    assert_eq!(status["events_applied"], 3);
    assert_eq!(status["consumers"][0]["state"], "backing_off");
    assert!(status["consumers"][0]["last_error"]
        .as_str()
        .is_some_and(|e| e.contains("database")));
    assert_eq!(status["consumers"][0]["rejected"], 0, "nothing rejected");

    rename_table(&db.db, "applied_events_away", "applied_events").await;
    tracking.campaign_status(&campaign, "active").await;
    caught_up(&relay).await;
    assert_eq!(tracking.status().await["events_applied"], 6);
    assert_eq!(tracking.status().await["consumers"][0]["state"], "consuming");
    let click = json!({"campaign_id": campaign, "partner_id": "p-7"});
    assert_eq!(tracking.post("/tracking/clicks", &click).await.status(), 201);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_stopped_tracking_service_holds_the_relay_and_loses_nothing() {
    let db = TestDb::new().await;
    let transport = in_process_transport();
    let tracking = start_in_process_tracking(&db, &transport).await;
    let relay = spawn_relay(&db, &transport, relay_config());
    let handle = relay.handle();
    let campaigns = Campaigns::new(&db.db);
    campaigns.active(1).await;
    tracking.applied(3).await;

    tracking.service.shutdown().await;
    let [campaign] = <[String; 1]>::try_from(campaigns.active(1).await).unwrap();
    eventually("the relay to back off", || async {
        handle
            .progress()
            .last_error
            .is_some_and(|e| e.contains("stopped"))
    })
    .await;
    assert_eq!(handle.status().await.lag, Some(3));
    relay.shutdown().await;

    // The next start (a restarted process) delivers what the stopped one did not apply.
    let transport = in_process_transport();
    let tracking = start_in_process_tracking(&db, &transport).await;
    let relay = spawn_relay(&db, &transport, relay_config());
    tracking.campaign_status(&campaign, "active").await;
    caught_up(&relay).await;
    assert_eq!(tracking.status().await["events_applied"], 6);
    relay.shutdown().await;
}

/// A message as the relay would send it, with any payload.
fn message(key: &str, payload: Vec<u8>) -> OutgoingMessage {
    OutgoingMessage {
        stream: EventStream::Campaigns,
        key: key.to_owned(),
        payload,
        event_time: chrono::Utc::now(),
        properties: vec![(bus::message::property::EVENT_TYPE, "test".to_owned())],
        event_id: Uuid::now_v7(),
        cursor: LogCursor::START,
    }
}

/// On SQLite only (its trigger and table names); the dead-letter path on either backend
/// is `an_undecodable_message_is_dead_lettered_on_either_backend`.
#[tokio::test]
async fn a_poison_message_is_dead_lettered_and_does_not_block_the_rest_on_sqlite() {
    let db = TestDb::sqlite().await;
    let transport = in_process_transport();
    let tracking = start_in_process_tracking(&db, &transport).await;
    let mut campaign = CampaignStream::new();
    let key = campaign.id.clone();

    // While the dead letter cannot be recorded, the message is not acknowledged.
    rename_table(&db.db, "dead_letters", "dead_letters_away").await;
    let mut publisher = transport.connect().await.unwrap();
    let receipt = publisher
        .send(message(&key, b"definitely not json".to_vec()))
        .await
        .unwrap();
    let error = receipt.await.expect_err("not acknowledged");
    assert!(error.to_string().contains("dead letter"), "{error}");
    publisher.close().await;
    let status = tracking.status().await;
    assert!(status["consumers"][0]["last_error"]
        .as_str()
        .is_some_and(|e| e.contains("dead letter")));
    rename_table(&db.db, "dead_letters_away", "dead_letters").await;

    // Not JSON, an unknown type, a future version, and an event the database refuses (a
    // trigger stands in for a constraint it breaks): all on the campaign's own key,
    // before its valid events.
    let sqlite = db.db.as_sqlite().unwrap();
    let mut write = sqlite.begin_write().await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON tracking_participants WHEN NEW.partner_id = 'p-refused'
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .execute(&mut *write)
    .await
    .unwrap();
    write.commit().await.unwrap();
    let mut unknown = serde_json::to_value(campaign.created()).unwrap();
    unknown["type"] = json!("alpes.campaign.renamed.v1");
    let mut future = serde_json::to_value(campaign.created()).unwrap();
    future["type"] = json!("alpes.campaign.created.v2");
    let mut refused_campaign = CampaignStream::new();
    let refused = refused_campaign.participant_added("p-refused");
    let mut payloads = vec![
        b"definitely not json".to_vec(),
        unknown.to_string().into_bytes(),
        future.to_string().into_bytes(),
        serde_json::to_vec(&refused).unwrap(),
    ];
    let mut campaign = CampaignStream::new();
    let key = campaign.id.clone();
    for event in campaign.active_with(&["p-1"]) {
        payloads.push(serde_json::to_vec(&event).unwrap());
    }
    let mut publisher = transport.connect().await.unwrap();
    let mut receipts = Vec::new();
    for payload in payloads {
        receipts.push(publisher.send(message(&key, payload)).await.unwrap());
    }
    for receipt in receipts {
        receipt.await.expect("every message acknowledged");
    }
    publisher.close().await;

    let stats = tracking.stats(&campaign.id).await;
    assert_eq!(stats["status"], "active", "the rest was not blocked");
    assert_eq!(count_rows(&db.db, "dead_letters").await, 4);
    let (payload, reason): (Vec<u8>, String) =
        sqlx::query_as("SELECT payload, reason FROM tracking_dead_letters ORDER BY dead_letter_id LIMIT 1")
            .fetch_one(sqlite.pool())
            .await
            .unwrap();
    assert_eq!(payload, b"definitely not json");
    assert!(reason.contains("cannot decode"), "{reason}");
    let refused_reason: String =
        sqlx::query_scalar("SELECT reason FROM tracking_dead_letters ORDER BY dead_letter_id DESC LIMIT 1")
            .fetch_one(sqlite.pool())
            .await
            .unwrap();
    assert!(
        refused_reason.contains("refused by the database"),
        "{refused_reason}"
    );
    let status = tracking.status().await;
    assert_eq!(status["events_applied"], 3);
    // 1 delivery + 2 redeliveries of each of the 4 poison messages, and the first one's
    // while its dead letter could not be recorded.
    assert_eq!(status["consumers"][0]["rejected"], 3 * 5);
}

/// The run's backend (Postgres included, whose `tracking.dead_letters` the SQLite-only
/// test above cannot reach): an undecodable message ends in the dead-letter table and
/// the valid events behind it on the same key still apply.
#[tokio::test]
async fn an_undecodable_message_is_dead_lettered_on_either_backend() {
    let db = TestDb::new().await;
    let transport = in_process_transport();
    let tracking = start_in_process_tracking(&db, &transport).await;
    let mut campaign = CampaignStream::new();
    let key = campaign.id.clone();
    let mut payloads = vec![b"definitely not json".to_vec()];
    for event in campaign.active_with(&["p-1"]) {
        payloads.push(serde_json::to_vec(&event).unwrap());
    }

    let mut publisher = transport.connect().await.unwrap();
    let mut receipts = Vec::new();
    for payload in payloads {
        receipts.push(publisher.send(message(&key, payload)).await.unwrap());
    }
    for receipt in receipts {
        receipt.await.expect("every message acknowledged");
    }
    publisher.close().await;

    assert_eq!(count_rows(&db.db, "dead_letters").await, 1);
    let stats = tracking.stats(&campaign.id).await;
    assert_eq!(stats["status"], "active", "the rest was not blocked");
}
