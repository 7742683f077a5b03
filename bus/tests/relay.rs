//! The relay against the Pulsar test broker: what it publishes, and that it loses nothing
//! and keeps each aggregate's order through crashes, broker outages, lost receipts and a
//! second relay. On the backend `ALPES_TEST_BACKEND` names (Postgres by default).

mod common;

use aggregates::campaign::CampaignCommand;
use bus::message::property;
use bus::{RelayConfig, RelayState};
use common::*;
use pulsar_test_broker::TestBroker;
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test]
async fn every_committed_event_is_published_as_a_v1_cloudevent() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let writer = Writer::new(&db.db);
    let campaign = writer.create_campaign(&["p-1", "p-2"]).await;
    writer.campaign(&campaign, CampaignCommand::Activate).await;
    let partner = writer.register_partner().await;

    let relay = spawn_relay(&db, &broker, relay_config());
    caught_up(&relay.handle()).await;

    let campaign_messages = broker.messages(CAMPAIGN_TOPIC);
    let types: Vec<_> = campaign_messages
        .iter()
        .map(|m| m.properties[property::EVENT_TYPE].clone())
        .collect();
    assert_eq!(
        types,
        [
            "alpes.campaign.created.v1",
            "alpes.campaign.participant_added.v1",
            "alpes.campaign.participant_added.v1",
            "alpes.campaign.activated.v1"
        ]
    );
    let committed = committed_events(&db.db).await;
    for message in &campaign_messages {
        let event = contract::v1::decode(&message.payload).expect("a v1 CloudEvent");
        let (aggregate_id, sequence) = &committed[&event.id];
        assert_eq!(
            message.partition_key.as_deref(),
            Some(campaign.as_str()),
            "key = aggregate id"
        );
        assert_eq!(&event.subject, aggregate_id);
        assert_eq!(event.aggregatesequence, *sequence);
        assert_eq!(event.source, "/alpes/campaigns");
        assert_eq!(event.datacontenttype, "application/json");
        assert_eq!(message.event_time, Some(event.time.timestamp_millis() as u64));
        assert_eq!(message.properties[property::EVENT_ID], event.id.to_string());
        assert_eq!(message.properties[property::SCHEMA_VERSION], "v1");
        assert!(message.properties[property::POSITION].parse::<i64>().is_ok());
        assert!(message.producer_name.starts_with("alpes-relay-campaigns-"));
    }
    let partner_messages = broker.messages(PARTNER_TOPIC);
    assert_eq!(partner_messages.len(), 1);
    let registered = contract::v1::decode(&partner_messages[0].payload).unwrap();
    assert_eq!(registered.event_type, "alpes.partner.registered.v1");
    assert_eq!(registered.subject, partner);
    assert!(
        !String::from_utf8_lossy(&partner_messages[0].payload).contains("alice@example.com"),
        "no e-mail address in the public contract"
    );

    // Events committed while the relay runs are published too, and the status says so.
    writer.campaign(&campaign, CampaignCommand::Pause).await;
    caught_up(&relay.handle()).await;
    assert_eq!(broker.messages(CAMPAIGN_TOPIC).len(), 5);
    let status = relay.handle().status().await;
    assert_eq!(status.progress.state, RelayState::CaughtUp);
    assert_eq!(status.head, Some(6));
    assert_eq!(status.progress.checkpoint.map(|c| c.position), Some(6));
    assert!(status.progress.last_publish_at.is_some());
    assert_eq!(status.progress.published, 6);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_relay_killed_mid_stream_resumes_from_its_checkpoint_and_loses_nothing() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let writer = Writer::new(&db.db);
    writer.campaigns_with_history(60).await; // 240 events
                                             // Slow receipts and a small window: the relay is still mid-stream when it is killed.
    broker.set_receipt_delay(Some(Duration::from_millis(20)));
    let config = RelayConfig {
        max_in_flight: 8,
        ..relay_config()
    };

    let relay = spawn_relay(&db, &broker, config.clone());
    let handle = relay.handle();
    eventually("a few checkpoints", || async {
        handle.progress().checkpoint.is_some_and(|c| c.position >= 40)
    })
    .await;
    relay.abort().await;
    let before_restart = broker.messages(CAMPAIGN_TOPIC).len();
    assert!(before_restart < 240, "killed mid-stream");
    assert!(handle.status().await.lag > Some(0));

    broker.set_receipt_delay(None);
    let relay = spawn_relay(&db, &broker, config);
    caught_up(&relay.handle()).await;

    let messages = published(&broker);
    let committed = committed_events(&db.db).await;
    let ids: HashSet<_> = messages.iter().map(|m| m.event_id).collect();
    assert_eq!(ids, committed.keys().copied().collect(), "every event arrives");
    // Only what was in flight at the kill (plus the coalesced checkpoint) is sent twice.
    let duplicates = messages.len() - ids.len();
    assert!(duplicates <= 8 + 40, "{duplicates} duplicates");
    assert_in_order_per_aggregate(&messages);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_broker_down_for_a_while_makes_the_relay_back_off_then_catch_up_in_order() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let writer = Writer::new(&db.db);
    let first = writer.campaigns_with_history(5).await;
    let relay = spawn_relay(&db, &broker, relay_config());
    caught_up(&relay.handle()).await;

    broker.set_down(true).await;
    for id in &first {
        writer.campaign(id, CampaignCommand::Resume).await;
    }
    writer.campaigns_with_history(5).await;
    let handle = relay.handle();
    eventually("the relay to back off", || async {
        let progress = handle.progress();
        progress.state == RelayState::BackingOff && progress.last_error.is_some()
    })
    .await;
    assert!(
        handle.status().await.lag >= Some(25),
        "nothing published while down"
    );

    broker.set_down(false).await;
    caught_up(&handle).await;
    let messages = published(&broker);
    let ids: HashSet<_> = messages.iter().map(|m| m.event_id).collect();
    assert_eq!(ids.len(), 20 + 5 + 20);
    assert_eq!(ids, committed_events(&db.db).await.keys().copied().collect());
    assert_in_order_per_aggregate(&messages);
    assert!(handle.progress().last_error.is_some(), "the error stays visible");
    relay.shutdown().await;
}

#[tokio::test]
async fn a_lost_receipt_holds_the_checkpoint_and_the_event_is_sent_again() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let writer = Writer::new(&db.db);
    let relay = spawn_relay(&db, &broker, relay_config());
    caught_up(&relay.handle()).await;

    // The broker stores the next message but never confirms it.
    broker.drop_receipts(1);
    let campaign = writer.create_campaign(&["p-1"]).await;
    // Until the send times out, nothing after the unconfirmed event counts as published.
    eventually("the stored message", || async {
        broker.messages(CAMPAIGN_TOPIC).len() == 2
    })
    .await;
    assert_eq!(relay.handle().status().await.lag, Some(2));

    caught_up(&relay.handle()).await;
    let messages = published(&broker);
    let created: Vec<_> = messages
        .iter()
        .filter(|m| m.sequence == 1 && m.key == campaign)
        .collect();
    assert_eq!(created.len(), 2, "the unconfirmed event was sent again");
    assert_in_order_per_aggregate(&messages);
    relay.shutdown().await;
}

#[tokio::test]
async fn only_one_relay_publishes_and_a_standby_takes_over_when_it_dies() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let writer = Writer::new(&db.db);
    let active = spawn_relay(&db, &broker, relay_config());
    eventually("the first relay to be active", || async {
        active.handle().progress().state == RelayState::CaughtUp
    })
    .await;
    let standby = spawn_relay(&db, &broker, relay_config());
    eventually("the second relay to stand by", || async {
        standby.handle().progress().state == RelayState::Standby
    })
    .await;

    writer.campaigns_with_history(5).await;
    caught_up(&active.handle()).await;
    assert_eq!(published(&broker).len(), 20, "published once, by one relay");
    assert_eq!(standby.handle().progress().published, 0);

    active.abort().await;
    writer.campaigns_with_history(5).await;
    caught_up(&standby.handle()).await;
    let messages = published(&broker);
    let ids: HashSet<_> = messages.iter().map(|m| m.event_id).collect();
    assert_eq!(ids.len(), 40);
    assert_eq!(
        messages.len(),
        40,
        "the successor resumed at the saved checkpoint"
    );
    assert!(standby.handle().progress().published >= 20);
    assert_in_order_per_aggregate(&messages);
    standby.shutdown().await;
}

#[tokio::test]
async fn an_event_that_cannot_be_mapped_stalls_the_relay_instead_of_being_skipped() {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let writer = Writer::new(&db.db);
    writer.create_campaign(&["p-1"]).await;
    // An event of an aggregate type the relay knows nothing about, then a valid one.
    append_unmappable_event(&db.db).await;
    writer.register_partner().await;

    let relay = spawn_relay(&db, &broker, relay_config());
    let handle = relay.handle();
    eventually("the relay to stall", || async {
        handle.progress().state == RelayState::Stalled
    })
    .await;
    let status = handle.status().await;
    assert!(status.progress.last_error.unwrap().contains("Invoice"));
    assert_eq!(status.progress.checkpoint.map(|c| c.position), Some(2));
    assert_eq!(status.lag, Some(2));
    assert_eq!(broker.messages(CAMPAIGN_TOPIC).len(), 2);
    assert!(
        broker.messages(PARTNER_TOPIC).is_empty(),
        "nothing after the stalled event"
    );
    relay.shutdown().await;
}
