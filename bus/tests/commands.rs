//! The seed front door's commands on Pulsar (the test broker): published by
//! `PulsarCommands`, run by the command consumers, outcomes kept in the `commands`
//! table (directly, or through the outcomes topic); duplicates, poison messages,
//! retries, a crash between the outcome and the acknowledgement, a broker that is down.

mod common;

use async_trait::async_trait;
use bus::commands::{
    dead_letter_topic, property, spawn_command_consumers, spawn_outcome_consumer, CommandConsumerSettings,
    CommandConsumers, CommandTopicStatus, CommandTopics, OutcomeSink, PublishCommand, PublishOutcomes,
    PulsarCommands,
};
use chrono::Utc;
use common::{command_consumer_settings, eventually, init_logs, pulsar_settings, register_campaign, TestDb};
use contract::v1::commands::{types, CancelCampaign, Command, CommandMessage, Issuer, RegisterConversion};
use pulsar_test_broker::TestBroker;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{
    CommandQueue, CommandRecord, CommandStatus, CommandToRun, NewCommand, Outcome, RunCommand, RunResult,
};
use uuid::Uuid;

/// A runner that records every call: answers `Retry` for its first `retries` calls, then
/// `{"call": n}` (n counting every call), or a failure for a campaign named `bad`.
#[derive(Default)]
struct FakeRunner {
    calls: Mutex<Vec<Uuid>>,
    /// Who issued each command it ran, by id.
    issuers: Mutex<HashMap<Uuid, Option<serde_json::Value>>>,
    retries: AtomicUsize,
}

impl FakeRunner {
    fn new() -> Arc<FakeRunner> {
        Arc::new(FakeRunner::default())
    }

    fn calls(&self) -> Vec<Uuid> {
        self.calls.lock().unwrap().clone()
    }

    fn issuer_of(&self, id: Uuid) -> Option<serde_json::Value> {
        self.issuers.lock().unwrap().get(&id).cloned().flatten()
    }

    fn calls_for(&self, id: Uuid) -> usize {
        self.calls().iter().filter(|&&call| call == id).count()
    }
}

#[async_trait]
impl RunCommand for FakeRunner {
    async fn run(&self, command: &CommandToRun) -> RunResult {
        let call = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(command.command_id);
            calls.len()
        };
        self.issuers
            .lock()
            .unwrap()
            .insert(command.command_id, command.issued_by.clone());
        let retry = self
            .retries
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1))
            .is_ok();
        if retry {
            return RunResult::Retry("the runner's database is away".into());
        }
        if command.payload["campaign_id"] == "bad" {
            return RunResult::Done(Outcome::Failed(serde_json::json!({"code": "campaign.not_found"})));
        }
        RunResult::Done(Outcome::Succeeded(serde_json::json!({"call": call})))
    }
}

/// Stores the outcome, then hangs before the acknowledgement, as a process that dies
/// right after its commit would.
struct HangAfterStoring {
    queue: CommandQueue,
    stored: AtomicBool,
}

#[async_trait]
impl OutcomeSink for HangAfterStoring {
    async fn store(&self, command: &CommandToRun, outcome: &Outcome) -> Result<(), String> {
        self.queue.store(command, outcome).await?;
        self.stored.store(true, Ordering::SeqCst);
        std::future::pending().await
    }
}

fn settings(broker: &TestBroker) -> CommandConsumerSettings {
    command_consumer_settings(pulsar_settings(broker))
}

fn cancel_campaign(campaign_id: &str) -> CommandMessage<serde_json::Value> {
    Command::CancelCampaign(CancelCampaign {
        campaign_id: campaign_id.to_owned(),
        reason: "budget cut".into(),
    })
    .message(Uuid::now_v7(), Utc::now())
}

struct Serve {
    queue: CommandQueue,
    runner: Arc<FakeRunner>,
    topics: CommandTopics,
    _db: TestDb,
}

async fn serve() -> Serve {
    init_logs();
    let db = TestDb::new().await;
    Serve {
        queue: CommandQueue::new(&db.db),
        runner: FakeRunner::new(),
        topics: CommandTopics::default(),
        _db: db,
    }
}

impl Serve {
    fn consumers(&self, broker: &TestBroker) -> CommandConsumers {
        spawn_command_consumers(
            settings(broker),
            self.topics.serve_subscriptions(),
            self.runner.clone(),
            Arc::new(self.queue.clone()),
        )
    }

    /// The command once it has an outcome.
    async fn outcome(&self, id: Uuid) -> CommandRecord {
        let deadline = tokio::time::Instant::now() + common::WAIT;
        loop {
            let found = self.queue.find(id).await.expect("read the command");
            if let Some(record) = found.filter(|record| record.status != CommandStatus::Pending) {
                return record;
            }
            assert!(tokio::time::Instant::now() < deadline, "no outcome for {id}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn topic_status(consumers: &CommandConsumers, topic: &str) -> CommandTopicStatus {
    consumers
        .handle()
        .status()
        .into_iter()
        .find(|status| status.topic == topic)
        .expect("a consumer of the topic")
}

async fn drained(broker: &TestBroker, topic: &str, subscription: &str) {
    eventually("the subscription's backlog to drain", || async {
        broker.backlog(topic, subscription) == Some(0)
    })
    .await;
}

#[tokio::test]
async fn published_commands_are_consumed_and_their_outcomes_stored() {
    let broker = TestBroker::start().await;
    let serve = serve().await;
    let consumers = serve.consumers(&broker);
    let publisher = PulsarCommands::new(pulsar_settings(&broker), serve.topics.clone());

    let issuer = Issuer {
        sub: "alice".into(),
        role: "brand".into(),
        brand_id: Some("brand-1".into()),
        partner_id: None,
    };
    let register = register_campaign("c-1").issued_by(Some(issuer.clone()));
    // As the front door does: accepted in the table, then published.
    serve
        .queue
        .submit(NewCommand {
            command_id: register.id,
            command_type: register.command_type.clone(),
            payload: register.data.clone(),
            queued: false,
            idempotency: None,
            issued_by: Some(serde_json::to_value(&issuer).unwrap()),
        })
        .await
        .expect("accepted");
    publisher.publish(&register).await.expect("published");
    let refused = cancel_campaign("bad");
    publisher.publish(&refused).await.expect("published");

    let stored = broker.messages(&serve.topics.register_campaign);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].partition_key.as_deref(), Some("c-1"));
    assert_eq!(
        stored[0].properties[property::COMMAND_ID],
        register.id.to_string()
    );
    assert_eq!(
        stored[0].properties[property::COMMAND_TYPE],
        types::REGISTER_CAMPAIGN
    );
    assert_eq!(stored[0].properties[property::SCHEMA_VERSION], "v1");
    let sent: CommandMessage<serde_json::Value> =
        serde_json::from_slice(&stored[0].payload).expect("a CloudEvent");
    assert_eq!(sent, register);
    assert_eq!(sent.issuer(), Some(issuer.clone()));

    let record = serve.outcome(register.id).await;
    assert_eq!(record.status, CommandStatus::Succeeded);
    assert_eq!(record.result, Some(serde_json::json!({"call": 1})));
    // The runner acts as whoever issued the command, as its message says.
    let ran_as = serve.runner.issuer_of(register.id);
    assert_eq!(ran_as, Some(serde_json::to_value(&issuer).unwrap()));
    assert_eq!(serve.runner.issuer_of(refused.id), None);
    // A command that breaks a rule: failed, and acknowledged like any other.
    let record = serve.outcome(refused.id).await;
    assert_eq!(record.status, CommandStatus::Failed);
    assert_eq!(record.command_type, types::CANCEL_CAMPAIGN);
    drained(
        &broker,
        &serve.topics.register_campaign,
        "sub-com-registrar-campaign",
    )
    .await;
    drained(
        &broker,
        &serve.topics.cancel_campaign,
        "sub-com-cancelar-campaign",
    )
    .await;

    let status = topic_status(&consumers, &serve.topics.register_campaign);
    assert_eq!(status.subscription, "sub-com-registrar-campaign");
    assert_eq!((status.counts.received, status.counts.succeeded), (1, 1));
    let status = topic_status(&consumers, &serve.topics.cancel_campaign);
    assert_eq!((status.counts.received, status.counts.failed), (1, 1));
    consumers.shutdown().await;
    publisher.close().await;
}

#[tokio::test]
async fn a_redelivered_command_keeps_its_first_outcome() {
    let broker = TestBroker::start().await;
    let serve = serve().await;
    let consumers = serve.consumers(&broker);
    let publisher = PulsarCommands::new(pulsar_settings(&broker), serve.topics.clone());

    let message = register_campaign("c-1");
    publisher.publish(&message).await.expect("published");
    publisher.publish(&message).await.expect("published again");

    eventually("the runner to see both copies", || async {
        serve.runner.calls_for(message.id) == 2
    })
    .await;
    drained(
        &broker,
        &serve.topics.register_campaign,
        "sub-com-registrar-campaign",
    )
    .await;
    let record = serve.outcome(message.id).await;
    assert_eq!(
        record.result,
        Some(serde_json::json!({"call": 1})),
        "the first outcome"
    );
    let status = topic_status(&consumers, &serve.topics.register_campaign);
    assert_eq!((status.counts.received, status.counts.succeeded), (2, 2));
    consumers.shutdown().await;
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_and_the_consumer_keeps_going() {
    let broker = TestBroker::start().await;
    let serve = serve().await;
    let consumers = serve.consumers(&broker);
    let topic = serve.topics.register_campaign.clone();

    broker.publish(&topic, b"not json").await;
    let unknown_id = Uuid::now_v7();
    let unknown = serde_json::json!({
        "specversion": "1.0", "id": unknown_id, "source": "/elsewhere",
        "type": "alpes.command.launch-rocket.v1", "time": Utc::now(),
        "datacontenttype": "application/json", "data": {"rocket": "r-1"},
    });
    broker.publish(&topic, unknown.to_string().as_bytes()).await;
    // An issuer named by halves (a subject without a role): not run as an admin's.
    let mut half_issued = serde_json::to_value(register_campaign("c-2")).unwrap();
    half_issued["issuersub"] = "mallory".into();
    broker.publish(&topic, half_issued.to_string().as_bytes()).await;
    let good = register_campaign("c-1");
    PulsarCommands::new(pulsar_settings(&broker), serve.topics.clone())
        .publish(&good)
        .await
        .expect("published");

    assert_eq!(serve.outcome(good.id).await.status, CommandStatus::Succeeded);
    let record = serve.outcome(unknown_id).await;
    assert_eq!(record.status, CommandStatus::Failed);
    assert_eq!(record.command_type, "alpes.command.launch-rocket.v1");
    let problem = record.result.expect("a problem");
    assert_eq!(problem["code"], "command.dead_lettered");
    assert_eq!(problem["status"], 422);
    assert!(
        problem["detail"].as_str().unwrap().contains("launch-rocket"),
        "{problem}"
    );

    let dead = broker
        .wait_for_messages(&dead_letter_topic(&topic), 3, common::WAIT)
        .await;
    assert_eq!(dead.len(), 3);
    assert_eq!(dead[0].payload, b"not json");
    assert!(dead[0].properties[property::REASON].contains("not a CloudEvents 1.0 JSON command"));
    assert_eq!(dead[0].properties[property::ORIGINAL_TOPIC], topic);
    assert!(dead[1].properties[property::REASON].contains("unknown command type"));
    assert!(dead[2].properties[property::REASON].contains("issuersub and issuerrole"));
    drained(&broker, &topic, "sub-com-registrar-campaign").await;
    assert_eq!(
        serve.runner.calls(),
        vec![good.id],
        "poison never reaches the runner"
    );
    eventually("the consumer to count them all", || async {
        let counts = topic_status(&consumers, &topic).counts;
        (counts.received, counts.dead_lettered, counts.succeeded) == (4, 3, 1)
    })
    .await;
    consumers.shutdown().await;
}

#[tokio::test]
async fn a_command_that_must_retry_is_not_acknowledged_until_done() {
    let broker = TestBroker::start().await;
    let serve = serve().await;
    // The runner cannot run anything until told otherwise.
    serve.runner.retries.store(usize::MAX, Ordering::SeqCst);
    let consumers = serve.consumers(&broker);
    let topic = serve.topics.register_campaign.clone();
    let message = register_campaign("c-1");
    PulsarCommands::new(pulsar_settings(&broker), serve.topics.clone())
        .publish(&message)
        .await
        .expect("published");

    eventually("a retry", || async { serve.runner.calls_for(message.id) >= 2 }).await;
    assert_eq!(broker.backlog(&topic, "sub-com-registrar-campaign"), Some(1));
    let status = topic_status(&consumers, &topic);
    assert!(status.last_error.unwrap().contains("away"));
    assert!(status.retrying);
    serve.runner.retries.store(0, Ordering::SeqCst);
    let record = serve.outcome(message.id).await;
    let calls = serve.runner.calls_for(message.id);
    assert!(calls >= 3, "{calls}");
    assert_eq!(record.result, Some(serde_json::json!({"call": calls})));
    drained(&broker, &topic, "sub-com-registrar-campaign").await;
    let status = topic_status(&consumers, &topic);
    assert_eq!((status.counts.received, status.counts.succeeded), (1, 1));
    assert!(!status.retrying);
    consumers.shutdown().await;
}

#[tokio::test]
async fn a_crash_between_the_outcome_and_the_ack_keeps_the_first_outcome() {
    let broker = TestBroker::start().await;
    let serve = serve().await;
    let topic = serve.topics.register_campaign.clone();
    let hang = Arc::new(HangAfterStoring {
        queue: serve.queue.clone(),
        stored: AtomicBool::new(false),
    });
    let crashing = spawn_command_consumers(
        settings(&broker),
        serve.topics.serve_subscriptions(),
        serve.runner.clone(),
        hang.clone(),
    );
    let message = register_campaign("c-1");
    PulsarCommands::new(pulsar_settings(&broker), serve.topics.clone())
        .publish(&message)
        .await
        .expect("published");
    eventually("the outcome to be stored", || async {
        hang.stored.load(Ordering::SeqCst)
    })
    .await;
    crashing.abort().await;
    assert_eq!(
        broker.backlog(&topic, "sub-com-registrar-campaign"),
        Some(1),
        "not acknowledged"
    );

    let consumers = serve.consumers(&broker);
    eventually("the redelivery", || async {
        serve.runner.calls_for(message.id) == 2
    })
    .await;
    drained(&broker, &topic, "sub-com-registrar-campaign").await;
    let record = serve.outcome(message.id).await;
    assert_eq!(
        record.result,
        Some(serde_json::json!({"call": 1})),
        "the first outcome"
    );
    consumers.shutdown().await;
}

#[tokio::test]
async fn publishing_fails_while_the_broker_is_down_and_works_once_it_is_back() {
    init_logs();
    let broker = TestBroker::start().await;
    let publisher = PulsarCommands::new(pulsar_settings(&broker), CommandTopics::default());
    publisher
        .publish(&register_campaign("c-1"))
        .await
        .expect("published");

    broker.set_down(true).await;
    let error = publisher
        .publish(&register_campaign("c-2"))
        .await
        .expect_err("no broker, no receipt");
    tracing::info!(%error, "refused while down");

    broker.set_down(false).await;
    publisher
        .publish(&register_campaign("c-3"))
        .await
        .expect("published once the broker is back");
    let keys: Vec<_> = broker
        .messages(&CommandTopics::default().register_campaign)
        .into_iter()
        .filter_map(|message| message.partition_key)
        .collect();
    assert!(!keys.contains(&"c-2".to_owned()), "{keys:?}");
    assert!(keys.contains(&"c-3".to_owned()), "{keys:?}");

    // Two publishers (two `alpes serve` processes) on one topic: Shared producers.
    let other = PulsarCommands::new(pulsar_settings(&broker), CommandTopics::default());
    other
        .publish(&register_campaign("c-4"))
        .await
        .expect("a second producer");
    publisher
        .publish(&register_campaign("c-5"))
        .await
        .expect("the first one still");
}

#[tokio::test]
async fn a_command_of_a_type_without_a_topic_is_not_published() {
    let broker = TestBroker::start().await;
    let publisher = PulsarCommands::new(pulsar_settings(&broker), CommandTopics::default());
    let mut message = register_campaign("c-1");
    message.command_type = "alpes.command.launch-rocket.v1".into();
    assert!(publisher.publish(&message).await.is_err());
}

#[tokio::test]
async fn outcomes_of_commands_run_elsewhere_come_back_through_the_outcomes_topic() {
    let broker = TestBroker::start().await;
    let serve = serve().await;
    // `alpes tracking`: no commands table, outcomes to the topic.
    let tracking_runner = FakeRunner::new();
    let tracking = spawn_command_consumers(
        settings(&broker),
        serve.topics.tracking_subscriptions(),
        tracking_runner.clone(),
        Arc::new(PublishOutcomes::new(
            pulsar_settings(&broker),
            serve.topics.outcomes.clone(),
        )),
    );
    // `alpes serve`: stores them.
    let outcomes = spawn_outcome_consumer(
        settings(&broker),
        serve.topics.outcome_subscription(),
        serve.queue.clone(),
    );

    let conversion = Command::RegisterConversion(RegisterConversion {
        campaign_id: "c-1".into(),
        partner_id: "p-1".into(),
        occurred_at: None,
    })
    .message(Uuid::now_v7(), Utc::now());
    let publisher = PulsarCommands::new(pulsar_settings(&broker), serve.topics.clone());
    publisher.publish(&conversion).await.expect("published");

    let record = serve.outcome(conversion.id).await;
    assert_eq!(record.status, CommandStatus::Succeeded);
    assert_eq!(record.command_type, types::REGISTER_CONVERSION);
    assert_eq!(record.payload, conversion.data);
    assert_eq!(record.result, Some(serde_json::json!({"call": 1})));
    let published = broker.messages(&serve.topics.outcomes);
    assert_eq!(published.len(), 1);
    assert_eq!(
        published[0].partition_key.as_deref(),
        Some(conversion.id.to_string().as_str())
    );
    drained(&broker, &serve.topics.outcomes, "alpes-serve-outcomes").await;
    drained(
        &broker,
        &serve.topics.register_conversion,
        "sub-com-registrar-evento-conversion",
    )
    .await;

    // An unreadable outcome message is dead-lettered, and the consumer goes on.
    broker.publish(&serve.topics.outcomes, b"{}").await;
    let again = Command::RegisterConversion(RegisterConversion {
        campaign_id: "c-1".into(),
        partner_id: "p-2".into(),
        occurred_at: None,
    })
    .message(Uuid::now_v7(), Utc::now());
    publisher.publish(&again).await.expect("published");
    assert_eq!(serve.outcome(again.id).await.status, CommandStatus::Succeeded);
    let dead = broker
        .wait_for_messages(&dead_letter_topic(&serve.topics.outcomes), 1, common::WAIT)
        .await;
    assert_eq!(dead.len(), 1);
    // Counted once the dead letter is sent: soon after it reaches the broker.
    eventually("the outcome consumer to count all three", || async {
        let status = &outcomes.handle().status()[0];
        let counts = &status.counts;
        (counts.received, counts.succeeded, counts.dead_lettered) == (3, 2, 1)
    })
    .await;
    tracking.shutdown().await;
    outcomes.shutdown().await;
}
