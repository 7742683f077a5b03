//! The tracking service fed through the Pulsar test broker: its view follows the events,
//! duplicates and late events change nothing, poison messages are dead-lettered without
//! blocking the rest, batches and restarts lose nothing. On the backend
//! `ALPES_TEST_BACKEND` names (Postgres by default).

mod common;

use common::*;
use contract::v1::{self, PartnerEvent};
use pulsar::producer::{Message, ProducerOptions};
use pulsar_test_broker::TestBroker;
use serde_json::json;

fn click(campaign_id: &str, partner_id: &str) -> serde_json::Value {
    json!({"campaign_id": campaign_id, "partner_id": partner_id})
}

#[tokio::test]
async fn clicks_are_accepted_only_for_participants_of_active_campaigns_as_the_events_say() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let tracking = start_tracking(&db, &broker).await;
    let mut publisher = EventPublisher::new(&broker).await;
    let mut campaign = CampaignStream::new();
    for event in campaign.active_with(&["p-1"]) {
        publisher.publish(&event).await;
    }
    tracking.applied(3).await;

    let response = tracking
        .post("/tracking/clicks", &click(&campaign.id, "p-1"))
        .await;
    assert_eq!(response.status(), 201);
    let recorded: serde_json::Value = response.json().await.unwrap();
    assert!(recorded["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(recorded["campaign_id"], campaign.id.as_str());

    let stranger = tracking
        .post("/tracking/clicks", &click(&campaign.id, "p-2"))
        .await;
    assert_problem(stranger, 422, "tracking.not_a_participant").await;
    let unknown = tracking
        .post("/tracking/clicks", &click("no-such-campaign", "p-1"))
        .await;
    assert_problem(unknown, 422, "tracking.campaign_not_active").await;

    publisher.publish(&campaign.paused()).await;
    tracking.campaign_status(&campaign.id, "paused").await;
    let paused = tracking
        .post("/tracking/clicks", &click(&campaign.id, "p-1"))
        .await;
    let problem = assert_problem(paused, 422, "tracking.campaign_not_active").await;
    assert_eq!(problem["field"], "campaign_id");

    let status = tracking.status().await;
    assert_eq!(status["feed"], "pulsar");
    assert_eq!(status["subscription"], "tracking");
    assert_eq!(status["subscription_type"], "key_shared");
    assert_eq!(status["events_applied"], 4);
    assert_eq!(status["duplicates_ignored"], 0);
    assert_eq!(status["last_event"]["type"], "alpes.campaign.paused.v1");
    assert_eq!(status["last_event"]["subject"], campaign.id.as_str());
    assert_eq!(status["consumers"].as_array().map(Vec::len), Some(2));
    assert_eq!(status["consumers"][0]["state"], "consuming");
}

#[tokio::test]
async fn suspended_partners_are_refused_until_reinstated() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let tracking = start_tracking(&db, &broker).await;
    let mut publisher = EventPublisher::new(&broker).await;
    let mut campaign = CampaignStream::new();
    for event in campaign.active_with(&["p-1"]) {
        publisher.publish(&event).await;
    }
    let partner = |sequence, data| partner_event("p-1", sequence, data);
    let status = |partner_id: &str| v1::PartnerStatusChanged {
        partner_id: partner_id.into(),
    };
    let suspended = PartnerEvent::Suspended(v1::PartnerSuspended {
        partner_id: "p-1".into(),
        reason: "fraud".into(),
    });
    publisher
        .publish(&partner(
            1,
            PartnerEvent::Registered(v1::PartnerRegistered {
                partner_id: "p-1".into(),
                name: "Alice".into(),
                kind: v1::PartnerKind::Influencer,
                profile: String::new(),
            }),
        ))
        .await;
    publisher.publish(&partner(2, suspended)).await;
    tracking.applied(5).await;
    let refused = tracking
        .post("/tracking/clicks", &click(&campaign.id, "p-1"))
        .await;
    assert_problem(refused, 422, "tracking.partner_not_active").await;

    publisher
        .publish(&partner(3, PartnerEvent::Reinstated(status("p-1"))))
        .await;
    tracking.applied(6).await;
    let accepted = tracking
        .post("/tracking/clicks", &click(&campaign.id, "p-1"))
        .await;
    assert_eq!(accepted.status(), 201);
}

#[tokio::test]
async fn duplicated_deliveries_change_nothing() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let tracking = start_tracking(&db, &broker).await;
    let mut publisher = EventPublisher::new(&broker).await;
    let mut campaign = CampaignStream::new();
    let events = campaign.active_with(&["p-1", "p-2"]);
    for event in &events {
        publisher.publish(event).await;
    }
    tracking.applied(4).await;
    let before = tracking.stats(&campaign.id).await;

    // The same events published again (a relay resending after a crash)...
    for event in &events {
        publisher.publish(event).await;
    }
    // ...and everything delivered again (acknowledgements lost).
    eventually("the acknowledgements", || async {
        broker.backlog(CAMPAIGN_TOPIC, "tracking") == Some(0)
    })
    .await;
    assert!(broker
        .redeliver_all(CAMPAIGN_TOPIC, "tracking")
        .is_some_and(|n| n >= 8));

    eventually("every duplicate to be seen", || async {
        tracking.status().await["duplicates_ignored"].as_i64() >= Some(4 + 8)
    })
    .await;
    let status = tracking.status().await;
    assert_eq!(status["events_applied"], 4, "each event applied once");
    assert_eq!(tracking.stats(&campaign.id).await, before);
    assert_eq!(count_rows(&db.db, "applied_events").await, 4);
}

#[tokio::test]
async fn an_older_event_arriving_late_does_not_undo_a_newer_one() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let tracking = start_tracking(&db, &broker).await;
    let mut publisher = EventPublisher::new(&broker).await;
    let mut campaign = CampaignStream::new();
    let created = campaign.created();
    let added = campaign.participant_added("p-1");
    let activated = campaign.activated();
    let removed = campaign.participant_removed("p-1");
    // Newest first: removal and activation, then creation and the addition they supersede.
    for event in [&removed, &activated, &created, &added] {
        publisher.publish(event).await;
    }
    tracking.applied(4).await;
    let stats = tracking.stats(&campaign.id).await;
    assert_eq!(stats["status"], "active", "created (1) came after activated (3)");
    assert_eq!(stats["partners"], json!([]), "added (2) came after removed (4)");
    let refused = tracking
        .post("/tracking/clicks", &click(&campaign.id, "p-1"))
        .await;
    assert_problem(refused, 422, "tracking.not_a_participant").await;
}

#[tokio::test]
async fn a_poison_message_goes_to_the_dead_letter_topic_and_does_not_block_the_rest() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let tracking = start_tracking(&db, &broker).await;
    let mut publisher = EventPublisher::new(&broker).await;
    let mut campaign = CampaignStream::new();
    let key = campaign.id.clone();
    // Not JSON, an unknown type, a future version: all on the campaign's own key.
    publisher.publish_raw(&key, b"definitely not json".to_vec()).await;
    let mut unknown = serde_json::to_value(campaign.created()).unwrap();
    unknown["type"] = json!("alpes.campaign.renamed.v1");
    publisher
        .publish_raw(&key, unknown.to_string().into_bytes())
        .await;
    let mut future = serde_json::to_value(campaign.created()).unwrap();
    future["type"] = json!("alpes.campaign.created.v2");
    publisher.publish_raw(&key, future.to_string().into_bytes()).await;
    for event in campaign.active_with(&["p-1"]) {
        publisher.publish(&event).await;
    }

    tracking.campaign_status(&campaign.id, "active").await;
    let dead = broker.wait_for_messages(DEAD_LETTER_TOPIC, 3, WAIT).await;
    assert_eq!(dead.len(), 3, "every poison message dead-lettered");
    assert_eq!(dead[0].payload, b"definitely not json");
    assert_eq!(dead[0].partition_key.as_deref(), Some(key.as_str()));
    eventually("the topic to be fully acknowledged", || async {
        broker.backlog(CAMPAIGN_TOPIC, "tracking") == Some(0)
    })
    .await;
    let status = tracking.status().await;
    assert_eq!(status["events_applied"], 3);
    assert!(status["consumers"][0]["rejected"].as_u64() >= Some(3));
}

#[tokio::test]
async fn batched_messages_are_all_applied_before_their_batch_is_acknowledged() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let tracking = start_tracking(&db, &broker).await;
    let client = EventPublisher::new(&broker).await.client;
    let mut producer = client
        .producer()
        .with_topic(CAMPAIGN_TOPIC)
        .with_options(ProducerOptions {
            batch_size: Some(4),
            block_queue_if_full: true,
            ..ProducerOptions::default()
        })
        .build()
        .await
        .unwrap();
    let mut campaign = CampaignStream::new();
    let mut receipts = Vec::new();
    for event in campaign.active_with(&["p-1", "p-2", "p-3"]) {
        let message = Message {
            payload: serde_json::to_vec(&event).unwrap(),
            partition_key: Some(campaign.id.clone()),
            ..Message::default()
        };
        receipts.push(producer.send_non_blocking(message).await.unwrap());
    }
    producer.send_batch().await.unwrap();
    for receipt in receipts {
        receipt.await.unwrap();
    }
    assert!(broker.entries(CAMPAIGN_TOPIC).len() < 5, "the producer batched");

    tracking.applied(5).await;
    eventually("the batches to be acknowledged", || async {
        broker.backlog(CAMPAIGN_TOPIC, "tracking") == Some(0)
    })
    .await;
    let stats = tracking.stats(&campaign.id).await;
    assert_eq!(stats["partners"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn a_consumer_killed_mid_stream_applies_every_event_once_after_restart() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let mut publisher = EventPublisher::new(&broker).await;
    let mut campaigns = Vec::new();
    for _ in 0..40 {
        let mut campaign = CampaignStream::new();
        for event in campaign.active_with(&["p-1"]) {
            publisher.publish(&event).await;
        }
        campaigns.push(campaign);
    }
    let tracking = start_tracking(&db, &broker).await;
    tracking.applied(20).await;
    tracking.service.abort().await;

    let tracking = start_tracking(&db, &broker).await;
    tracking.applied(120).await;
    eventually("everything acknowledged", || async {
        broker.backlog(CAMPAIGN_TOPIC, "tracking") == Some(0)
    })
    .await;
    assert_eq!(tracking.status().await["events_applied"], 120, "each event once");
    for campaign in &campaigns {
        assert_eq!(tracking.stats(&campaign.id).await["status"], "active");
    }
}

/// Sets the test database read-only (or back) and drops its sessions, so every
/// connection, the service's included, comes back with the new setting.
async fn set_read_only(db: &TestDb, read_only: bool) {
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let server = db.url.trim_end_matches(&format!("/{name}")).to_owned();
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    let setting = if read_only {
        "SET default_transaction_read_only = on"
    } else {
        "RESET default_transaction_read_only"
    };
    sqlx::query(&format!(r#"ALTER DATABASE "{name}" {setting}"#))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(name)
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

#[tokio::test]
async fn a_database_that_refuses_writes_delays_events_but_dead_letters_none_on_postgres() {
    let db = TestDb::postgres().await;
    let broker = TestBroker::start().await;
    let tracking = start_tracking(&db, &broker).await;
    let mut publisher = EventPublisher::new(&broker).await;
    let mut campaign = CampaignStream::new();
    for event in campaign.active_with(&["p-1"]) {
        publisher.publish(&event).await;
    }
    tracking.applied(3).await;

    // A failover in progress: the database answers, but read-only.
    set_read_only(&db, true).await;
    publisher.publish(&campaign.paused()).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let status = tracking.status().await;
    assert_eq!(status["events_applied"], 3, "{status}");
    assert!(
        broker
            .messages(&tracking_config(&broker).dead_letter_topic)
            .is_empty(),
        "a good event was dead-lettered"
    );

    set_read_only(&db, false).await;
    tracking.campaign_status(&campaign.id, "paused").await;
    assert!(broker
        .messages(&tracking_config(&broker).dead_letter_topic)
        .is_empty());
}
