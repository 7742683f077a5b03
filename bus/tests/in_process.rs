//! The relay on the in-process bus (no broker): every committed event reaches the
//! subscribers, in order per aggregate, and the relay's checkpoint moves only behind what
//! they applied, through crashes, failing and missing subscribers, rejected messages and a
//! second relay. On the backend `ALPES_TEST_BACKEND` names (Postgres by default); the
//! SQLite lease has a test of its own.

mod common;

use aggregates::campaign::CampaignCommand;
use bus::{InProcessConfig, InProcessTransport, RelayConfig, RelayState};
use common::*;
use std::collections::HashSet;
use std::time::Duration;

#[tokio::test]
async fn every_committed_event_is_delivered_in_process_and_checkpointed_once_applied() {
    let db = TestDb::new().await;
    let writer = Writer::new(&db.db);
    let campaign = writer.create_campaign(&["p-1", "p-2"]).await;
    writer.campaign(&campaign, CampaignCommand::Activate).await;
    writer.register_partner().await;
    let recorder = Recorder::new();
    let transport = in_process_transport(&recorder);

    let relay = spawn_in_process_relay(&db, &transport, in_process_relay_config());
    caught_up(&relay.handle()).await;
    let committed = committed_events(&db.db).await;
    assert_eq!(committed.len(), 5);
    assert_eq!(recorder.applied(), committed.keys().copied().collect());
    let deliveries = recorder.deliveries();
    assert_eq!(deliveries.len(), 5, "each delivered once");
    assert_in_order_per_aggregate(&deliveries);
    let types: Vec<_> = deliveries
        .iter()
        .filter(|d| d.key == campaign)
        .map(|d| d.event_type.as_str())
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

    // Events committed while the relay runs are delivered too, and the status says so.
    writer.campaign(&campaign, CampaignCommand::Pause).await;
    caught_up(&relay.handle()).await;
    assert_eq!(recorder.deliveries().len(), 6);
    let status = relay.handle().status().await;
    assert_eq!(status.relay, "in-process");
    assert_eq!(status.progress.state, RelayState::CaughtUp);
    assert_eq!(status.head, Some(6));
    assert_eq!(status.progress.checkpoint.map(|c| c.position), Some(6));
    assert_eq!(status.progress.published, 6);
    relay.shutdown().await;
    assert_eq!(
        test_support::scalar(
            &db.db,
            "SELECT count(*) FROM relay_checkpoints WHERE relay = $1",
            &["pulsar"]
        )
        .await,
        0,
        "the in-process bus has a checkpoint of its own"
    );
}

#[tokio::test]
async fn a_relay_killed_mid_stream_resumes_from_its_checkpoint_and_loses_nothing_in_process() {
    let db = TestDb::new().await;
    let writer = Writer::new(&db.db);
    writer.campaigns_with_history(60).await; // 240 events
    let recorder = Recorder::new();
    // Slow deliveries and a small window: the relay is still mid-stream when it is killed.
    recorder.set_delay(Some(Duration::from_millis(5)));
    let transport = in_process_transport(&recorder);
    let config = RelayConfig {
        max_in_flight: 8,
        ..in_process_relay_config()
    };

    let relay = spawn_in_process_relay(&db, &transport, config.clone());
    let handle = relay.handle();
    eventually("a few checkpoints", || async {
        handle.progress().checkpoint.is_some_and(|c| c.position >= 40)
    })
    .await;
    relay.abort().await;
    let at_the_crash = recorder.deliveries().len();
    assert!(at_the_crash < 240, "killed mid-stream");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        recorder.deliveries().len(),
        at_the_crash,
        "nothing is delivered after the crash"
    );
    assert!(handle.status().await.lag > Some(0));

    recorder.set_delay(None);
    let relay = spawn_in_process_relay(&db, &transport, config);
    caught_up(&relay.handle()).await;
    let deliveries = recorder.deliveries();
    let committed = committed_events(&db.db).await;
    assert_eq!(
        recorder.applied(),
        committed.keys().copied().collect(),
        "every event arrives"
    );
    // Only what was in flight at the kill (plus the coalesced checkpoint) comes twice.
    let duplicates = deliveries.len() - committed.len();
    assert!(duplicates <= 8 + 40, "{duplicates} duplicates");
    assert_in_order_per_aggregate(&deliveries);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_failing_subscriber_holds_the_checkpoint_until_it_recovers() {
    let db = TestDb::new().await;
    let writer = Writer::new(&db.db);
    writer.campaigns_with_history(2).await;
    let recorder = Recorder::new();
    let transport = in_process_transport(&recorder);
    let relay = spawn_in_process_relay(&db, &transport, in_process_relay_config());
    let handle = relay.handle();
    caught_up(&handle).await;

    recorder.set_behaviour(Behaviour::Unavailable);
    writer.campaigns_with_history(3).await;
    eventually("the relay to back off", || async {
        let progress = handle.progress();
        progress.state == RelayState::BackingOff
            && progress
                .last_error
                .is_some_and(|e| e.contains("database is away"))
    })
    .await;
    let status = handle.status().await;
    assert_eq!(status.progress.checkpoint.map(|c| c.position), Some(8));
    assert_eq!(status.lag, Some(12), "nothing counts as delivered");

    recorder.set_behaviour(Behaviour::Apply);
    caught_up(&handle).await;
    let deliveries = recorder.deliveries();
    assert_eq!(deliveries.len(), 20);
    assert_eq!(
        recorder.applied(),
        committed_events(&db.db).await.keys().copied().collect()
    );
    assert_in_order_per_aggregate(&deliveries);
    assert!(handle.progress().last_error.is_some(), "the error stays visible");
    relay.shutdown().await;
}

#[tokio::test]
async fn a_message_the_subscriber_rejects_is_dead_lettered_and_the_rest_flows() {
    let db = TestDb::new().await;
    let writer = Writer::new(&db.db);
    let campaign = writer.create_campaign(&["p-1"]).await;
    writer.campaign(&campaign, CampaignCommand::Activate).await;
    let committed = committed_events(&db.db).await;
    let (&poison, _) = committed
        .iter()
        .find(|(_, (_, sequence))| *sequence == 2)
        .expect("the participant's event");
    let recorder = Recorder::new();
    recorder.poison(poison);
    let transport = in_process_transport(&recorder);

    let relay = spawn_in_process_relay(&db, &transport, in_process_relay_config());
    caught_up(&relay.handle()).await;
    let dead = recorder.dead_letters.lock().unwrap().clone();
    assert_eq!(dead, [(poison, "the recorder cannot read it".to_owned())]);
    let mut expected: HashSet<_> = committed.keys().copied().collect();
    expected.remove(&poison);
    assert_eq!(recorder.applied(), expected, "the events after it are delivered");
    let status = relay.handle().status().await;
    assert_eq!(status.lag, Some(0), "the dead letter is acknowledged");
    assert_eq!(status.progress.last_error, None, "the relay never failed");
    relay.shutdown().await;
}

#[tokio::test]
async fn without_a_subscriber_the_relay_delivers_nothing_until_one_subscribes() {
    let db = TestDb::new().await;
    let writer = Writer::new(&db.db);
    writer.create_campaign(&["p-1"]).await;
    let transport = InProcessTransport::new(InProcessConfig::default());

    let relay = spawn_in_process_relay(&db, &transport, in_process_relay_config());
    let handle = relay.handle();
    eventually("the relay to back off", || async {
        let progress = handle.progress();
        progress.state == RelayState::BackingOff
            && progress.last_error.is_some_and(|e| e.contains("no subscriber"))
    })
    .await;
    assert_eq!(handle.status().await.lag, Some(2), "nothing counts as delivered");

    let recorder = Recorder::new();
    transport.subscribe(recorder.clone());
    caught_up(&handle).await;
    assert_eq!(recorder.deliveries().len(), 2);
    relay.shutdown().await;
}

#[tokio::test]
async fn only_one_relay_delivers_in_process_and_a_standby_takes_over_when_it_dies() {
    let db = TestDb::new().await;
    let writer = Writer::new(&db.db);
    let recorder = Recorder::new();
    let transport = in_process_transport(&recorder);
    let active = spawn_in_process_relay(&db, &transport, in_process_relay_config());
    eventually("the first relay to be active", || async {
        active.handle().progress().state == RelayState::CaughtUp
    })
    .await;
    let standby = spawn_in_process_relay(&db, &transport, in_process_relay_config());
    eventually("the second relay to stand by", || async {
        standby.handle().progress().state == RelayState::Standby
    })
    .await;

    writer.campaigns_with_history(5).await;
    caught_up(&active.handle()).await;
    assert_eq!(recorder.deliveries().len(), 20, "delivered once, by one relay");
    assert_eq!(standby.handle().progress().published, 0);

    // Killed: on SQLite its lease expires, then the standby takes it.
    active.abort().await;
    writer.campaigns_with_history(5).await;
    caught_up(&standby.handle()).await;
    let deliveries = recorder.deliveries();
    assert_eq!(recorder.applied().len(), 40);
    assert_eq!(
        deliveries.len(),
        40,
        "the successor resumed at the saved checkpoint"
    );
    assert!(standby.handle().progress().published >= 20);
    assert_in_order_per_aggregate(&deliveries);
    standby.shutdown().await;
}

#[tokio::test]
async fn a_relay_whose_lease_is_taken_stops_delivering_until_the_lease_expires_on_sqlite() {
    let db = TestDb::sqlite().await;
    let writer = Writer::new(&db.db);
    let recorder = Recorder::new();
    let transport = in_process_transport(&recorder);
    let relay = spawn_in_process_relay(&db, &transport, in_process_relay_config());
    let handle = relay.handle();
    eventually("the relay to be active", || async {
        handle.progress().state == RelayState::CaughtUp
    })
    .await;

    // Another process's relay took the lease (this one was too slow to renew it).
    execute(
        &db.db,
        "UPDATE leases SET holder = 'another-process', expires_at = 9000000000000",
    )
    .await;
    eventually("the relay to notice and stand by", || async {
        handle.progress().state == RelayState::Standby
    })
    .await;
    assert!(handle
        .progress()
        .last_error
        .is_some_and(|e| e.contains("taken over")));
    writer.create_campaign(&["p-1"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        recorder.deliveries().is_empty(),
        "nothing delivered without the lease"
    );

    // The other relay died: its lease expires, and this one takes over.
    execute(&db.db, "UPDATE leases SET expires_at = 0").await;
    caught_up(&handle).await;
    assert_eq!(recorder.deliveries().len(), 2);

    // A graceful stop gives the lease up: a restarted relay need not wait for it.
    relay.shutdown().await;
    assert_eq!(
        test_support::scalar(&db.db, "SELECT count(*) FROM leases", &[]).await,
        0
    );
}
