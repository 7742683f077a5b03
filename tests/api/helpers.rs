//! `spawn_app()` and request helpers shared by the API tests.

use alpes::server::HttpSettings;
use alpes::settings::{AuthSettings, BusSettings, DatabaseSettings, Settings};
use alpes::startup::Application;
use auth::{Authentication, Issuer, Principal, Role, TokenSettings, Verifier};
use projections::ProjectorSettings;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::Duration;
use store::LogCursor;

use store::{Backend, Database, EventLog, NewEvent};
use test_support::TestDb;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A running application over its own database, dropped with the test.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// A direct handle on the application's database, to check what it stored.
    pub db: Database,
    pub database_url: String,
    /// `None` for an [`TestApp::attach`]ed view of an instance someone else owns.
    instance: Option<Instance>,
    /// Last: dropped (with the database) after `Drop` has stopped the instance.
    _database: Option<TestDb>,
}

/// One application process (as far as the database can tell).
pub struct Instance {
    pub address: String,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    /// Stops it the way a crash would: no graceful shutdown, its projectors abort
    /// mid-batch and its database sessions (and their locks) go away.
    pub fn kill(&self) {
        self.task.abort();
    }
}

/// The settings of a test instance: a random port, fast projector retries, the
/// in-process bus (tests of the Pulsar relay set `bus` to the test broker).
pub fn test_settings(database_url: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        database: DatabaseSettings {
            url: database_url.to_owned().into(),
            max_connections: 8,
        },
        aggregate_cache_capacity: 10_000,
        consistency_timeout: Duration::from_secs(5),
        projectors: ProjectorSettings {
            poison_retry_delays: vec![Duration::from_millis(10), Duration::from_millis(20)],
            leadership_check: Duration::from_millis(200),
            ..ProjectorSettings::default()
        },
        bus: BusSettings::InProcess,
        commands: Default::default(),
        // The production limits; no rate limit (tests send bursts from one address).
        http: HttpSettings::default(),
        auth: AuthSettings::Tokens(TokenSettings::secret(TEST_SECRET)),
        legacy_principal: None,
    }
}

/// The HS256 secret of the test instances.
pub const TEST_SECRET: &str = "test-secret-of-at-least-thirty-two-bytes";

/// A token for `principal`, signed with [`TEST_SECRET`], valid for an hour.
pub fn token(principal: &Principal) -> String {
    Issuer::new(&TokenSettings::secret(TEST_SECRET))
        .unwrap()
        .issue(principal, Duration::from_secs(3600))
        .unwrap()
}

/// An HTTP client whose requests carry `principal`'s token (a request may still set
/// its own `Authorization`).
pub fn client_as(principal: &Principal) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {}", token(principal));
    headers.insert(reqwest::header::AUTHORIZATION, value.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The authentication of the test instances (tokens signed with [`TEST_SECRET`]).
pub fn test_authentication() -> Authentication {
    Authentication::tokens(Verifier::new(&TokenSettings::secret(TEST_SECRET)).unwrap())
}

/// The principal of [`TestApp::client`]: an admin.
pub fn test_admin() -> Principal {
    Principal::new("test-admin", Role::Admin)
}

/// Starts the application on a random port over a new, empty database of the run's
/// backend (`ALPES_TEST_BACKEND`).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Same, with settings adjusted by the test.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(test_support::backend(), adjust).await
}

/// For behaviour only Postgres has (commit order across concurrent transactions,
/// advisory-lock leadership between processes): always Postgres. These tests' names
/// end in `_on_postgres`, which the SQLite run of the suite skips.
pub async fn spawn_postgres_app() -> TestApp {
    spawn_app_on(Backend::Postgres, |_| {}).await
}

/// Starts the application over a new database of `backend`. With `TEST_LOG` set, the
/// application's logs go to the test output (`RUST_LOG` filters them).
pub async fn spawn_app_on(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        alpes::telemetry::init(alpes::telemetry::LogFormat::Text);
    }
    let database = TestDb::of(backend).await;
    let mut settings = test_settings(&database.url);
    adjust(&mut settings);
    let instance = start(settings).await;
    TestApp {
        address: instance.address.clone(),
        client: client_as(&test_admin()),
        db: database.db.clone(),
        database_url: database.url.clone(),
        instance: Some(instance),
        _database: Some(database),
    }
}

/// Starts one more application instance over an existing database.
pub async fn start_on(database_url: &str) -> Instance {
    start(test_settings(database_url)).await
}

async fn start(settings: Settings) -> Instance {
    let app = Application::build(settings).await.expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    Instance {
        address,
        task: tokio::spawn(app.run_until_stopped()),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The database goes with the `_database` field, right after.
        if let Some(instance) = &self.instance {
            instance.kill();
        }
    }
}

impl TestApp {
    /// The Postgres pool of a [`spawn_postgres_app`] application.
    pub fn pg(&self) -> &PgPool {
        self.db
            .as_postgres()
            .expect("a Postgres-only test (spawn_postgres_app)")
    }

    /// The instance `spawn_app` started.
    pub fn instance(&self) -> &Instance {
        self.instance.as_ref().expect("an attached view owns no instance")
    }

    /// The same helpers, talking to another instance over this app's database (for
    /// restarts). The caller keeps `self` (the database) and `instance` alive.
    pub fn attach(&self, instance: &Instance) -> TestApp {
        TestApp {
            address: instance.address.clone(),
            client: self.client.clone(),
            db: self.db.clone(),
            database_url: self.database_url.clone(),
            instance: None,
            _database: None,
        }
    }

    /// The same helpers, with requests carrying `principal`'s token instead.
    pub fn as_principal(&self, principal: &Principal) -> TestApp {
        let mut view = self.attach(self.instance());
        view.client = client_as(principal);
        view
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{}", self.address, path))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("request sent")
    }

    /// GETs a JSON body, asserting 200.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str) -> Response {
        self.request(Method::POST, path)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("request sent")
    }

    /// Creates a campaign with one participant and returns its id.
    pub async fn create_campaign(&self) -> String {
        self.create_campaign_with(&campaign_body()).await["aggregate_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a campaign; returns the command's answer.
    pub async fn create_campaign_with(&self, body: &Value) -> Value {
        let response = self.post_json("/campaigns", body).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Registers a partner and returns its id.
    pub async fn register_partner(&self) -> String {
        let response = self.post_json("/partners", &partner_body()).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["aggregate_id"].as_str().unwrap().to_owned()
    }

    /// The stored events of an aggregate, straight from the events table (committed
    /// ones, whatever the log readers' horizon): (sequence, event_type, event_id,
    /// position, payload).
    pub async fn stored_events(&self, aggregate_id: &str) -> Vec<(i64, String, Uuid, i64, Value)> {
        const SQL: &str = "SELECT sequence, event_type, event_id, position, payload FROM events
                           WHERE aggregate_id = $1 ORDER BY sequence";
        match self.db.as_postgres() {
            Some(pool) => sqlx::query_as(&SQL.replace("payload", "payload::jsonb"))
                .bind(aggregate_id)
                .fetch_all(pool)
                .await
                .unwrap(),
            None => {
                let db = self.db.as_sqlite().unwrap();
                let rows: Vec<(i64, String, String, i64, String)> = sqlx::query_as(SQL)
                    .bind(aggregate_id)
                    .fetch_all(db.pool())
                    .await
                    .unwrap();
                rows.into_iter()
                    .map(|(sequence, event_type, event_id, position, payload)| {
                        (
                            sequence,
                            event_type,
                            event_id.parse().unwrap(),
                            position,
                            serde_json::from_str(&payload).unwrap(),
                        )
                    })
                    .collect()
            }
        }
    }

    pub async fn count_events(&self) -> i64 {
        self.db.count_after(LogCursor::START).await.unwrap()
    }

    /// One integer a query returns, on either backend (the SQL must be valid on both;
    /// `$1` is bound to `bind`).
    pub async fn scalar(&self, sql: &str, bind: &str) -> i64 {
        test_support::scalar(&self.db, sql, &[bind]).await
    }

    /// Appends an event straight to the log, bypassing the domain (poison events, old
    /// event versions); returns its position.
    pub async fn append_raw(
        &self,
        aggregate_id: &str,
        sequence: i64,
        event_type: &str,
        event_version: &str,
        payload: &Value,
    ) -> i64 {
        let event = NewEvent {
            event_id: Uuid::now_v7(),
            sequence,
            event_type: event_type.to_owned(),
            event_version: event_version.to_owned(),
            payload: payload.clone(),
        };
        EventLog::new(self.db.clone())
            .append("Campaign", aggregate_id, &[event], &serde_json::json!({}), None)
            .await
            .unwrap()[0]
            .position
    }

    /// The status of one projector, from `GET /projections`.
    pub async fn projection(&self, name: &str) -> Value {
        let statuses = self.get_json("/projections").await;
        statuses
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .expect("projection listed")
    }

    /// Waits until `condition` holds on a projector's status (10 s at most).
    pub async fn wait_for_projection(&self, name: &str, condition: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.projection(name).await;
            if condition(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "projection {name} never got there: {status}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// The body the seed's clients sent to create a campaign, in our field names.
pub fn campaign_body() -> Value {
    json!({
        "name": "Test",
        "brand_id": "12dqweqwqdsxq",
        "budget": { "amount": 10000, "currency": "USD" },
        "participants": [
            { "partner_id": "p-98765", "kind": "Influencer", "name": "Alice Doe",
              "profile": "Fashion influencer with 200k followers" }
        ]
    })
}

pub fn partner_body() -> Value {
    json!({ "name": "Alice Doe", "kind": "influencer", "profile": "Fashion influencer with 200k followers" })
}

pub fn participant(partner_id: &str) -> Value {
    json!({ "partner_id": partner_id, "kind": "affiliate", "name": "Blog Moda Trends", "profile": "50k visits" })
}

/// Asserts a problem answer: status, content type and code; returns the body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status of a '{code}' problem");
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "problem: {body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().ends_with(code));
    assert!(!body["title"].as_str().unwrap().is_empty());
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

/// The JSON body of a successful command; asserts its shape.
pub async fn accepted(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert!(body["aggregate_id"].is_string(), "{body}");
    assert!(body["version"].is_u64(), "{body}");
    assert!(body["position"].is_i64(), "{body}");
    assert!(body["event_ids"].is_array(), "{body}");
    body
}
