//! Helpers of the relay's integration tests: a fresh database per test (of the backend
//! `ALPES_TEST_BACKEND` names), a command writer, a relay with short timings on a test
//! broker or the in-process bus, a recording in-process subscriber, bounded waits.

#![allow(dead_code)] // each test binary uses its own subset

use aggregates::campaign::{Campaign, CampaignCommand, MoneyInput, ParticipantInput};
use aggregates::partner::{Partner, PartnerCommand};
use async_trait::async_trait;
use bus::{
    DeliveryError, InProcessConfig, InProcessTransport, OutgoingMessage, PulsarSettings, PulsarTransport,
    Relay, RelayConfig, RelayTask, Subscriber,
};
use pulsar_test_broker::{StoredMessage, TestBroker};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{AlpesEventStore, CommandExecutor, CommandOptions, Database, EventLog, NewEvent};
use uuid::Uuid;

/// How long a test waits for what should happen in well under a second.
pub const WAIT: Duration = Duration::from_secs(20);

pub const CAMPAIGN_TOPIC: &str = "persistent://public/default/campaign-events";
pub const PARTNER_TOPIC: &str = "persistent://public/default/partner-events";

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub use test_support::TestDb;

/// Runs commands against the store, as the API does.
pub struct Writer {
    campaigns: CommandExecutor<Campaign>,
    partners: CommandExecutor<Partner>,
}

impl Writer {
    pub fn new(database: &Database) -> Writer {
        let log = EventLog::new(database.clone());
        Writer {
            campaigns: CommandExecutor::new(AlpesEventStore::new(log.clone(), vec![], 1000), ()),
            partners: CommandExecutor::new(AlpesEventStore::new(log, vec![], 1000), ()),
        }
    }

    /// A draft campaign with these participants (one event each, after `CampaignCreated`).
    pub async fn create_campaign(&self, participants: &[&str]) -> String {
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
            participants: participants
                .iter()
                .map(|partner_id| ParticipantInput {
                    partner_id: (*partner_id).into(),
                    kind: "affiliate".into(),
                    name: format!("Partner {partner_id}"),
                    profile: String::new(),
                })
                .collect(),
        };
        self.campaign(&id, command).await;
        id
    }

    pub async fn campaign(&self, id: &str, command: CampaignCommand) {
        self.campaigns
            .execute(id, command, CommandOptions::default())
            .await
            .expect("campaign command accepted");
    }

    pub async fn register_partner(&self) -> String {
        let id = Uuid::now_v7().to_string();
        let command = PartnerCommand::RegisterPartner {
            name: "Alice".into(),
            kind: "influencer".into(),
            profile: "200k followers".into(),
            email: Some("alice@example.com".into()),
        };
        self.partners
            .execute(&id, command, CommandOptions::default())
            .await
            .expect("partner command accepted");
        id
    }

    /// `count` campaigns, each created with one participant then activated and paused:
    /// four events each.
    pub async fn campaigns_with_history(&self, count: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..count {
            let id = self.create_campaign(&["p-1"]).await;
            self.campaign(&id, CampaignCommand::Activate).await;
            self.campaign(&id, CampaignCommand::Pause).await;
            ids.push(id);
        }
        ids
    }
}

/// Relay timings for tests: fast polls, short backoffs.
pub fn relay_config() -> RelayConfig {
    RelayConfig {
        poll_interval: Duration::from_millis(100),
        checkpoint_interval: Duration::from_millis(20),
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(300),
        lock_retry_interval: Duration::from_millis(50),
        lock_check_interval: Duration::from_millis(200),
        drain_timeout: Duration::from_secs(2),
        ..RelayConfig::default()
    }
}

pub fn pulsar_settings(broker: &TestBroker) -> PulsarSettings {
    PulsarSettings {
        operation_timeout: Duration::from_secs(1),
        connection_timeout: Duration::from_secs(1),
        ..PulsarSettings::new(broker.url())
    }
}

pub fn spawn_relay(db: &TestDb, broker: &TestBroker, config: RelayConfig) -> RelayTask {
    init_logs();
    Relay::new(
        db.db.clone(),
        PulsarTransport::new(pulsar_settings(broker)),
        config,
    )
    .spawn()
}

/// Relay timings for tests, on the in-process bus's checkpoint.
pub fn in_process_relay_config() -> RelayConfig {
    RelayConfig {
        name: RelayConfig::in_process().name,
        ..relay_config()
    }
}

/// A relay delivering to `transport`'s subscribers.
pub fn spawn_in_process_relay(db: &TestDb, transport: &InProcessTransport, config: RelayConfig) -> RelayTask {
    init_logs();
    Relay::new(db.db.clone(), transport.clone(), config).spawn()
}

/// An in-process bus with short timeouts and few redeliveries.
pub fn in_process_transport(subscriber: &Arc<Recorder>) -> InProcessTransport {
    let transport = InProcessTransport::new(InProcessConfig {
        max_redeliveries: 2,
        delivery_timeout: Duration::from_secs(5),
        ..InProcessConfig::default()
    });
    transport.subscribe(subscriber.clone());
    transport
}

/// Every committed event: event id → (aggregate id, sequence). Read from the table,
/// not through the log's commit-order reader (whose Postgres horizon waits for other
/// tests' transactions).
pub async fn committed_events(database: &Database) -> HashMap<Uuid, (String, i64)> {
    const SQL: &str = "SELECT event_id, aggregate_id, sequence FROM events";
    let rows: Vec<(Uuid, String, i64)> = if let Some(pool) = database.as_postgres() {
        sqlx::query_as(SQL)
            .fetch_all(pool)
            .await
            .expect("read the events")
    } else {
        let sqlite = database
            .as_sqlite()
            .expect("a database of one of the two backends");
        let rows: Vec<(String, String, i64)> = sqlx::query_as(SQL)
            .fetch_all(sqlite.pool())
            .await
            .expect("read the events");
        rows.into_iter()
            .map(|(id, aggregate, sequence)| (id.parse().expect("a UUID"), aggregate, sequence))
            .collect()
    };
    rows.into_iter()
        .map(|(event_id, aggregate_id, sequence)| (event_id, (aggregate_id, sequence)))
        .collect()
}

/// Appends an event of a type the relay cannot map (an aggregate type it knows nothing
/// about), as a newer application's event would be.
pub async fn append_unmappable_event(database: &Database) {
    let event = NewEvent {
        event_id: Uuid::now_v7(),
        sequence: 1,
        event_type: "InvoiceSent".into(),
        event_version: "1.0".into(),
        payload: serde_json::json!("InvoiceSent"),
    };
    EventLog::new(database.clone())
        .append("Invoice", "i-1", &[event], &serde_json::json!({}), None)
        .await
        .expect("an unmappable event appended");
}

/// Runs a statement on either backend (SQLite: through the writer turn).
pub async fn execute(database: &Database, sql: &str) {
    test_support::execute(database, sql, &[]).await;
}

/// What [`Recorder`] does with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Apply,
    /// Refuse every delivery as unavailable (its database is away).
    Unavailable,
}

/// An in-process subscriber that records what it applies, in memory (which outlives the
/// relays of a test: it plays the durable consumer), deduplicating on the event id as real
/// consumers do.
#[derive(Default)]
pub struct Recorder {
    /// Every delivery applied, duplicates included, in order.
    deliveries: Mutex<Vec<Published>>,
    applied: Mutex<HashSet<Uuid>>,
    behaviour: Mutex<Option<Behaviour>>,
    /// Event ids whose message it rejects (as undecodable).
    poison: Mutex<HashSet<Uuid>>,
    pub dead_letters: Mutex<Vec<(Uuid, String)>>,
    /// How long each delivery takes.
    delay: Mutex<Option<Duration>>,
}

impl Recorder {
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder::default())
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = Some(behaviour);
    }

    pub fn set_delay(&self, delay: Option<Duration>) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn poison(&self, event_id: Uuid) {
        self.poison.lock().unwrap().insert(event_id);
    }

    /// Every delivery applied, in order (duplicates included).
    pub fn deliveries(&self) -> Vec<Published> {
        self.deliveries.lock().unwrap().clone()
    }

    /// The distinct events applied.
    pub fn applied(&self) -> HashSet<Uuid> {
        self.applied.lock().unwrap().clone()
    }
}

#[async_trait]
impl Subscriber for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn deliver(&self, message: &OutgoingMessage) -> Result<(), DeliveryError> {
        let delay = *self.delay.lock().unwrap();
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if *self.behaviour.lock().unwrap() == Some(Behaviour::Unavailable) {
            return Err(DeliveryError::Unavailable(
                "the recorder's database is away".into(),
            ));
        }
        if self.poison.lock().unwrap().contains(&message.event_id) {
            return Err(DeliveryError::Rejected("the recorder cannot read it".into()));
        }
        let event = contract::v1::decode(&message.payload).expect("a v1 integration event");
        self.deliveries.lock().unwrap().push(Published {
            key: message.key.clone(),
            event_id: event.id,
            sequence: event.aggregatesequence,
            event_type: event.event_type,
        });
        self.applied.lock().unwrap().insert(message.event_id);
        Ok(())
    }

    async fn dead_letter(&self, message: &OutgoingMessage, reason: &str) -> Result<(), String> {
        self.dead_letters
            .lock()
            .unwrap()
            .push((message.event_id, reason.to_owned()));
        Ok(())
    }
}

/// What was published: each topic's messages in the order it stores them (an aggregate's
/// messages are all on one topic).
pub fn published(broker: &TestBroker) -> Vec<Published> {
    [CAMPAIGN_TOPIC, PARTNER_TOPIC]
        .iter()
        .flat_map(|topic| broker.messages(topic))
        .map(|message| Published::from(&message))
        .collect()
}

/// One published message, decoded.
#[derive(Debug, Clone)]
pub struct Published {
    pub key: String,
    pub event_id: Uuid,
    pub sequence: i64,
    pub event_type: String,
}

impl From<&StoredMessage> for Published {
    fn from(message: &StoredMessage) -> Self {
        let event = contract::v1::decode(&message.payload).expect("a v1 integration event");
        Published {
            key: message.partition_key.clone().unwrap_or_default(),
            event_id: event.id,
            sequence: event.aggregatesequence,
            event_type: event.event_type,
        }
    }
}

/// At-least-once in order per aggregate: for every key, each message's sequence is at most
/// one above the highest sequence published before it (an event is never published before
/// its predecessor was), and the first publications come in sequence order.
pub fn assert_in_order_per_aggregate(messages: &[Published]) {
    let mut highest: HashMap<&str, i64> = HashMap::new();
    for message in messages {
        let seen = highest.entry(&message.key).or_insert(0);
        assert!(
            message.sequence <= *seen + 1,
            "aggregate {}: sequence {} published after only {}",
            message.key,
            message.sequence,
            seen
        );
        *seen = (*seen).max(message.sequence);
    }
}

/// Waits until `condition` holds, for at most [`WAIT`].
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the relay's saved checkpoint is at the log's head (nothing left to publish).
pub async fn caught_up(relay: &bus::RelayHandle) {
    // Nothing left to publish, and the relay says so (its state follows the lag).
    eventually("the relay to catch up", || async {
        let status = relay.status().await;
        status.lag == Some(0) && status.progress.state == bus::RelayState::CaughtUp
    })
    .await;
}

/// A seed command registering campaign `campaign_id`, as the front door publishes it.
pub fn register_campaign(campaign_id: &str) -> contract::v1::commands::CommandMessage<serde_json::Value> {
    use contract::v1::commands::{Command, RegisterCampaign};
    Command::RegisterCampaign(RegisterCampaign {
        campaign_id: campaign_id.to_owned(),
        name: "Summer launch".into(),
        brand_id: "brand-1".into(),
        budget: contract::v1::Money {
            amount: "10000".into(),
            currency: "USD".into(),
        },
        participants: vec![],
    })
    .message(Uuid::now_v7(), chrono::Utc::now())
}

/// The command consumers' settings for `pulsar`, with short backoffs.
pub fn command_consumer_settings(pulsar: PulsarSettings) -> bus::commands::CommandConsumerSettings {
    bus::commands::CommandConsumerSettings {
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..bus::commands::CommandConsumerSettings::from_pulsar(pulsar)
    }
}
