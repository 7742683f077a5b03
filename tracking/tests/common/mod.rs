//! Helpers of the tracking service's tests: a fresh database per test (of the backend
//! `ALPES_TEST_BACKEND` names), the service on a random port fed by a test broker or the
//! in-process bus, v1 events to publish as the relay would, bounded waits.

#![allow(dead_code)] // each test binary uses its own subset

use auth::{Authentication, Issuer, Principal, Role, TokenSettings, Verifier};
use chrono::Utc;
use contract::v1::{self, CampaignEvent, CloudEvent, IntegrationEvent, PartnerEvent};
use pulsar::producer::{Message, ProducerOptions};
use pulsar::{Producer, Pulsar, TokioExecutor};
use pulsar_test_broker::TestBroker;
use reqwest::Response;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use store::Database;
use tracking::{TrackingConfig, TrackingService};
use uuid::Uuid;

/// How long a test waits for what should happen in well under a second.
pub const WAIT: Duration = Duration::from_secs(20);

pub const CAMPAIGN_TOPIC: &str = "persistent://public/default/campaign-events";
pub const PARTNER_TOPIC: &str = "persistent://public/default/partner-events";
pub const DEAD_LETTER_TOPIC: &str = "persistent://public/default/tracking-dead-letters";

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub use test_support::TestDb;

/// Short waits and few redeliveries, so failures show in seconds.
pub fn tracking_config(broker: &TestBroker) -> TrackingConfig {
    TrackingConfig {
        max_redeliveries: 2,
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(300),
        operation_timeout: Duration::from_secs(2),
        connection_timeout: Duration::from_secs(1),
        ..TrackingConfig::new(broker.url())
    }
}

/// The tracking service, serving on a random port.
pub struct Tracking {
    pub service: TrackingService,
    pub address: String,
    pub client: reqwest::Client,
}

pub async fn start_tracking(db: &TestDb, broker: &TestBroker) -> Tracking {
    start_tracking_with(db, tracking_config(broker)).await
}

/// The tracking service with this configuration, serving on a random port.
pub async fn start_tracking_with(db: &TestDb, config: TrackingConfig) -> Tracking {
    init_logs();
    migrate(db).await;
    serve(TrackingService::start(db.db.clone(), config)).await
}

/// Creates the tracking tables (tracking's own migration set; the test database has the
/// main set's only), as the process that runs the service does.
pub async fn migrate(db: &TestDb) {
    tracking::migrate(&db.db).await.expect("tracking's migrations");
}

/// An in-process bus with short timeouts and few redeliveries.
pub fn in_process_transport() -> bus::InProcessTransport {
    bus::InProcessTransport::new(bus::InProcessConfig {
        max_redeliveries: 2,
        delivery_timeout: Duration::from_secs(5),
        ..bus::InProcessConfig::default()
    })
}

/// The tracking service fed by `transport`, serving on a random port.
pub async fn start_in_process_tracking(db: &TestDb, transport: &bus::InProcessTransport) -> Tracking {
    init_logs();
    migrate(db).await;
    serve(TrackingService::subscribe_in_process(db.db.clone(), transport)).await
}

async fn serve(service: TrackingService) -> Tracking {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = format!("http://{}", listener.local_addr().expect("bound"));
    let router = service.router(&authentication());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Tracking {
        service,
        address,
        client: client_as(&Principal::new("test-admin", Role::Admin)),
    }
}

/// The HS256 secret the tests' services verify tokens with.
pub const SECRET: &str = "tracking-test-secret-of-32-bytes-or-more";

/// The authentication of the tests' services.
pub fn authentication() -> Authentication {
    Authentication::tokens(Verifier::new(&TokenSettings::secret(SECRET)).unwrap())
}

/// A client whose requests carry `principal`'s token.
pub fn client_as(principal: &Principal) -> reqwest::Client {
    let token = Issuer::new(&TokenSettings::secret(SECRET))
        .unwrap()
        .issue(principal, Duration::from_secs(3600))
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

impl Tracking {
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn status(&self) -> Value {
        let response = self.get("/tracking/status").await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("a JSON status")
    }

    pub async fn stats(&self, campaign_id: &str) -> Value {
        let response = self
            .get(&format!("/tracking/campaigns/{campaign_id}/stats"))
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON stats")
    }

    /// Waits until the consumers have applied `count` events in all.
    pub async fn applied(&self, count: i64) {
        eventually(&format!("{count} events applied"), || async {
            self.status().await["events_applied"].as_i64() >= Some(count)
        })
        .await;
    }

    /// Waits until the view knows the campaign with this status.
    pub async fn campaign_status(&self, campaign_id: &str, status: &str) {
        eventually(&format!("campaign {campaign_id} {status}"), || async {
            let response = self
                .get(&format!("/tracking/campaigns/{campaign_id}/stats"))
                .await;
            response.status() == 200
                && response.json::<Value>().await.ok().map(|s| s["status"].clone()) == Some(status.into())
        })
        .await;
    }
}

/// A tracking table's name on the database's backend: in the schema `tracking` on
/// Postgres, prefixed `tracking_` on SQLite.
pub fn tracking_table(database: &Database, table: &str) -> String {
    if database.as_postgres().is_some() {
        format!("tracking.{table}")
    } else {
        format!("tracking_{table}")
    }
}

/// The rows of one of the tracking tables (`applied_events`, `dead_letters`, ...).
pub async fn count_rows(database: &Database, table: &str) -> i64 {
    let table = tracking_table(database, table);
    test_support::scalar(database, &format!("SELECT count(*) FROM {table}"), &[]).await
}

/// How many events the log holds.
pub async fn committed(database: &Database) -> i64 {
    test_support::scalar(database, "SELECT count(*) FROM events", &[]).await
}

/// Renames one of the tracking tables (`applied_events` to `applied_events_away` and
/// back): every statement on it fails as if the database were broken.
pub async fn rename_table(database: &Database, from: &str, to: &str) {
    let from = tracking_table(database, from);
    let to = tracking_table(database, to);
    // The new name is the table's alone (Postgres keeps the table in its schema).
    let to = to.strip_prefix("tracking.").unwrap_or(&to);
    test_support::execute(database, &format!("ALTER TABLE {from} RENAME TO {to}"), &[]).await;
}

/// Asserts a problem answer: status, content type and code; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status of a '{code}' problem");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["code"], code, "problem: {body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], format!("urn:alpes:problem:{code}"));
    assert!(!body["title"].as_str().unwrap_or_default().is_empty());
    assert!(!body["detail"].as_str().unwrap_or_default().is_empty());
    body
}

/// Publishes integration events as the relay does (one message each, key = subject).
pub struct EventPublisher {
    pub client: Pulsar<TokioExecutor>,
    campaigns: Producer<TokioExecutor>,
    partners: Producer<TokioExecutor>,
}

impl EventPublisher {
    pub async fn new(broker: &TestBroker) -> EventPublisher {
        let client = Pulsar::builder(broker.url(), TokioExecutor)
            .build()
            .await
            .expect("a client");
        let producer = |topic: &'static str| {
            client
                .producer()
                .with_topic(topic)
                .with_options(ProducerOptions {
                    block_queue_if_full: true,
                    ..ProducerOptions::default()
                })
                .build()
        };
        let campaigns = producer(CAMPAIGN_TOPIC).await.expect("a producer");
        let partners = producer(PARTNER_TOPIC).await.expect("a producer");
        EventPublisher {
            client,
            campaigns,
            partners,
        }
    }

    pub async fn publish(&mut self, event: &CloudEvent<IntegrationEvent>) {
        let payload = serde_json::to_vec(event).expect("serialisable");
        let producer = match event.data {
            IntegrationEvent::Campaign(_) => &mut self.campaigns,
            IntegrationEvent::Partner(_) => &mut self.partners,
        };
        send(producer, &event.subject, payload).await;
    }

    /// Any bytes, keyed, on the campaign topic.
    pub async fn publish_raw(&mut self, key: &str, payload: Vec<u8>) {
        send(&mut self.campaigns, key, payload).await;
    }
}

async fn send(producer: &mut Producer<TokioExecutor>, key: &str, payload: Vec<u8>) {
    let message = Message {
        payload,
        partition_key: Some(key.to_owned()),
        ..Message::default()
    };
    producer
        .send_non_blocking(message)
        .await
        .expect("queued")
        .await
        .expect("receipt");
}

/// v1 events of one campaign, with increasing sequences.
pub struct CampaignStream {
    pub id: String,
    sequence: i64,
}

impl CampaignStream {
    pub fn new() -> CampaignStream {
        CampaignStream {
            id: Uuid::now_v7().to_string(),
            sequence: 0,
        }
    }

    fn next(&mut self, data: CampaignEvent) -> CloudEvent<IntegrationEvent> {
        self.sequence += 1;
        event(&self.id, self.sequence, IntegrationEvent::Campaign(data))
    }

    pub fn created(&mut self) -> CloudEvent<IntegrationEvent> {
        let campaign_id = self.id.clone();
        self.next(CampaignEvent::Created(v1::CampaignCreated {
            campaign_id,
            name: "Summer launch".into(),
            brand_id: "brand-1".into(),
            budget: v1::Money {
                amount: "10000.00".into(),
                currency: "USD".into(),
            },
            schedule: None,
        }))
    }

    pub fn participant_added(&mut self, partner_id: &str) -> CloudEvent<IntegrationEvent> {
        let campaign_id = self.id.clone();
        self.next(CampaignEvent::ParticipantAdded(v1::ParticipantAdded {
            campaign_id,
            partner_id: partner_id.into(),
            kind: v1::PartnerKind::Affiliate,
            name: format!("Partner {partner_id}"),
            profile: String::new(),
        }))
    }

    pub fn participant_removed(&mut self, partner_id: &str) -> CloudEvent<IntegrationEvent> {
        let campaign_id = self.id.clone();
        self.next(CampaignEvent::ParticipantRemoved(v1::ParticipantRemoved {
            campaign_id,
            partner_id: partner_id.into(),
        }))
    }

    pub fn activated(&mut self) -> CloudEvent<IntegrationEvent> {
        let status = self.status();
        self.next(CampaignEvent::Activated(status))
    }

    pub fn paused(&mut self) -> CloudEvent<IntegrationEvent> {
        let status = self.status();
        self.next(CampaignEvent::Paused(status))
    }

    fn status(&self) -> v1::CampaignStatusChanged {
        v1::CampaignStatusChanged {
            campaign_id: self.id.clone(),
        }
    }

    /// Created with these participants, then activated.
    pub fn active_with(&mut self, partners: &[&str]) -> Vec<CloudEvent<IntegrationEvent>> {
        let mut events = vec![self.created()];
        events.extend(partners.iter().map(|partner| self.participant_added(partner)));
        events.push(self.activated());
        events
    }
}

/// A partner event at `sequence`.
pub fn partner_event(partner_id: &str, sequence: i64, data: PartnerEvent) -> CloudEvent<IntegrationEvent> {
    event(partner_id, sequence, IntegrationEvent::Partner(data))
}

fn event(subject: &str, sequence: i64, data: IntegrationEvent) -> CloudEvent<IntegrationEvent> {
    CloudEvent {
        specversion: v1::SPEC_VERSION.into(),
        id: Uuid::now_v7(),
        source: data.source().into(),
        event_type: data.event_type().into(),
        subject: subject.into(),
        time: Utc::now(),
        datacontenttype: v1::DATA_CONTENT_TYPE.into(),
        aggregatesequence: sequence,
        correlationid: None,
        traceparent: None,
        data,
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
