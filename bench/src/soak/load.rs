//! The soak's load: a few clients, each doing what a brand and its partners do (register
//! a partner, create a campaign with it, activate, pause, resume, complete, read back with
//! `min_position`, record clicks and conversions), while processes die under them.
//!
//! Every command carries an `Idempotency-Key` and is retried with it on a 5xx, a refused
//! or broken connection or a timeout, as a careful client would: a command whose answer
//! was lost in a crash is answered again, never applied twice. Every request, first try
//! or retry, is recorded with its outcome and its time, for the checks.
//!
//! Bounded: each client stops at its deadline or after `MAX_ITERATIONS`, each request
//! times out after `REQUEST_TIMEOUT`, and each operation gives up after `RETRY_BUDGET`.
//! Every address is on 127.0.0.1.

use crate::credentials::Credentials;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one operation keeps retrying (longer than any planned outage but the broker's,
/// which no HTTP request depends on).
const RETRY_BUDGET: Duration = Duration::from_secs(40);
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// How many times a click is retried while tracking does not know the campaign is active
/// yet (422): tracking learns it from the bus, a moment after the command.
const NOT_YET_ACTIVE_RETRIES: u32 = 25;
const MAX_ITERATIONS: u64 = 100_000;
/// A pause between iterations: a steady load, not a saturating one.
const THINK_TIME: Duration = Duration::from_millis(20);

/// Which process a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Api,
    Tracking,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Connection refused: nothing listens (the process is down).
    Refused,
    /// The connection broke mid-request (the process died under it).
    Broken,
    TimedOut,
}

/// One request, as it happened.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub target: Target,
    pub started: Instant,
    pub finished: Instant,
    pub answer: Answer,
}

/// What the clients did and what they were told.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub outcomes: Vec<Outcome>,
    /// Commands answered 2xx (first answers and idempotent replays of the same command
    /// counted once).
    pub acknowledged_commands: u64,
    /// The event ids of every acknowledged command.
    pub acknowledged_events: Vec<String>,
    /// Clicks and conversions answered 2xx: (campaign id, external id, "click"|"conversion").
    pub acknowledged_records: Vec<(String, String, &'static str)>,
    /// Operations abandoned after their retry budget.
    pub gave_up: u64,
    /// Client errors (4xx) answered to commands and queries, which this load never
    /// provokes on purpose: (status, method and path template).
    pub client_errors: Vec<(u16, String)>,
    /// Clicks refused because tracking did not learn of the campaign in time.
    pub records_not_eligible: u64,
    pub iterations: u64,
}

impl LoadReport {
    pub fn merge(&mut self, other: LoadReport) {
        self.outcomes.extend(other.outcomes);
        self.acknowledged_commands += other.acknowledged_commands;
        self.acknowledged_events.extend(other.acknowledged_events);
        self.acknowledged_records.extend(other.acknowledged_records);
        self.gave_up += other.gave_up;
        self.client_errors.extend(other.client_errors);
        self.records_not_eligible += other.records_not_eligible;
        self.iterations += other.iterations;
    }
}

/// The addresses of the system under test.
#[derive(Clone)]
pub struct Endpoints {
    pub api: String,
    pub tracking: String,
}

/// A client of the system: every request with its admin token.
pub fn http_client(credentials: &Credentials) -> reqwest::Client {
    credentials
        .client_builder()
        // Only loopback: never through a proxy from the environment.
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("a plain HTTP client builds")
}

/// One simulated client.
pub struct Client {
    number: usize,
    http: reqwest::Client,
    endpoints: Endpoints,
    deadline: Instant,
    report: LoadReport,
}

/// What a command answered: its aggregate and the position of its last event.
struct Committed {
    id: String,
    position: i64,
}

impl Client {
    pub fn new(number: usize, credentials: &Credentials, endpoints: Endpoints, deadline: Instant) -> Self {
        Client {
            number,
            // Its own connections, as a separate client's.
            http: http_client(credentials),
            endpoints,
            deadline,
            report: LoadReport::default(),
        }
    }

    /// Runs iterations until the deadline.
    pub async fn run(mut self) -> LoadReport {
        while Instant::now() < self.deadline && self.report.iterations < MAX_ITERATIONS {
            self.iteration(self.report.iterations).await;
            self.report.iterations += 1;
            tokio::time::sleep(THINK_TIME).await;
        }
        self.report
    }

    async fn iteration(&mut self, n: u64) {
        let tag = format!("soak-{}-{n}", self.number);
        let Some(partner) = self
            .command(
                Method::POST,
                "/partners",
                "/partners",
                Some(json!({"name": format!("{tag} partner"), "kind": "influencer", "profile": "soak"})),
            )
            .await
        else {
            return;
        };
        let participant =
            json!({"partner_id": partner.id, "kind": "influencer", "name": "Soak", "profile": "soak"});
        let Some(campaign) = self
            .command(
                Method::POST,
                "/campaigns",
                "/campaigns",
                Some(json!({
                    "name": format!("{tag} campaign"), "brand_id": format!("soak-brand-{}", self.number),
                    "budget": {"amount": "1000.00", "currency": "USD"}, "participants": [participant]
                })),
            )
            .await
        else {
            return;
        };
        let id = campaign.id.clone();
        self.query(
            &format!("/campaigns/{id}?min_position={}", campaign.position),
            "/campaigns/{id}",
        )
        .await;
        let Some(active) = self.transition(&id, "activate").await else {
            return;
        };
        for click in 0..3 {
            self.record("click", &id, &partner.id, &format!("{tag}-click-{click}"))
                .await;
        }
        self.record("conversion", &id, &partner.id, &format!("{tag}-conversion"))
            .await;
        let Some(paused) = self.transition(&id, "pause").await else {
            return;
        };
        let brand = format!("soak-brand-{}", self.number);
        self.query(
            &format!(
                "/campaigns?brand_id={brand}&status=paused&limit=5&min_position={}",
                paused.position.max(active.position)
            ),
            "/campaigns",
        )
        .await;
        if self.transition(&id, "resume").await.is_none() {
            return;
        }
        self.record("click", &id, &partner.id, &format!("{tag}-click-after-resume"))
            .await;
        self.query(
            &format!("/partners/{}?min_position={}", partner.id, campaign.position),
            "/partners/{id}",
        )
        .await;
        self.query("/partners?q=soak&limit=5", "/partners").await;
        if n % 3 == 2 {
            self.transition(&id, "complete").await;
        }
    }

    async fn transition(&mut self, id: &str, action: &str) -> Option<Committed> {
        self.command(
            Method::POST,
            &format!("/campaigns/{id}/{action}"),
            &format!("/campaigns/{{id}}/{action}"),
            None,
        )
        .await
    }

    /// One request, recorded. `None` when no HTTP answer came.
    async fn send(
        &mut self,
        target: Target,
        method: Method,
        url: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Option<(StatusCode, Value)> {
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let started = Instant::now();
        let result = match request.send().await {
            Ok(response) => {
                let status = response.status();
                // A body cut short is a broken connection too.
                match response.bytes().await {
                    Ok(bytes) => Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let answer = match &result {
            Ok((status, _)) => Answer::Status(status.as_u16()),
            Err(e) if e.is_timeout() => Answer::TimedOut,
            Err(e) if e.is_connect() => Answer::Refused,
            Err(_) => Answer::Broken,
        };
        self.report.outcomes.push(Outcome {
            target,
            started,
            finished: Instant::now(),
            answer,
        });
        result.ok()
    }

    /// Whether an operation may try again: within its budget and the run's bound.
    fn may_retry(&self, started: Instant) -> bool {
        started.elapsed() < RETRY_BUDGET && Instant::now() < self.deadline + RETRY_BUDGET
    }

    /// A command, retried with its idempotency key until it gets an answer other than a
    /// 5xx. `None` if it was refused (4xx, recorded) or given up.
    async fn command(
        &mut self,
        method: Method,
        path: &str,
        template: &str,
        body: Option<Value>,
    ) -> Option<Committed> {
        let key = Uuid::new_v4().to_string();
        let url = format!("{}{path}", self.endpoints.api);
        let started = Instant::now();
        loop {
            match self
                .send(Target::Api, method.clone(), &url, body.as_ref(), Some(&key))
                .await
            {
                Some((status, answer)) if status.is_success() => {
                    self.report.acknowledged_commands += 1;
                    let ids = answer["event_ids"].as_array().cloned().unwrap_or_default();
                    self.report
                        .acknowledged_events
                        .extend(ids.iter().filter_map(|id| id.as_str().map(str::to_owned)));
                    return Some(Committed {
                        id: answer["aggregate_id"].as_str().unwrap_or_default().to_owned(),
                        position: answer["position"].as_i64().unwrap_or_default(),
                    });
                }
                Some((status, _)) if status.is_client_error() => {
                    self.report
                        .client_errors
                        .push((status.as_u16(), format!("{method} {template}")));
                    return None;
                }
                _ => {}
            }
            if !self.may_retry(started) {
                self.report.gave_up += 1;
                return None;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// A query, retried on a 5xx or no answer; a 4xx is recorded.
    async fn query(&mut self, path_and_query: &str, template: &str) {
        let url = format!("{}{path_and_query}", self.endpoints.api);
        let started = Instant::now();
        loop {
            match self.send(Target::Api, Method::GET, &url, None, None).await {
                Some((status, _)) if status.is_success() => return,
                Some((status, _)) if status.is_client_error() => {
                    return self
                        .report
                        .client_errors
                        .push((status.as_u16(), format!("GET {template}")));
                }
                _ => {}
            }
            if !self.may_retry(started) {
                self.report.gave_up += 1;
                return;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// A click or conversion on the tracking service, with its own `external_id` (safe to
    /// retry). A 422 means tracking has not learnt yet that the campaign is active: tried
    /// again a few times, then counted as not eligible.
    async fn record(&mut self, kind: &'static str, campaign: &str, partner: &str, external_id: &str) {
        let (path, body) = match kind {
            "click" => (
                "/tracking/clicks",
                json!({"campaign_id": campaign, "partner_id": partner, "external_id": external_id}),
            ),
            _ => (
                "/tracking/conversions",
                json!({"campaign_id": campaign, "partner_id": partner, "external_id": external_id,
                       "value": {"amount": "12.50", "currency": "USD"}}),
            ),
        };
        let url = format!("{}{path}", self.endpoints.tracking);
        let started = Instant::now();
        let mut not_yet_active = 0;
        loop {
            match self
                .send(Target::Tracking, Method::POST, &url, Some(&body), None)
                .await
            {
                Some((status, _)) if status.is_success() => {
                    self.report.acknowledged_records.push((
                        campaign.to_owned(),
                        external_id.to_owned(),
                        kind,
                    ));
                    return;
                }
                Some((StatusCode::UNPROCESSABLE_ENTITY, _)) => {
                    not_yet_active += 1;
                    if not_yet_active > NOT_YET_ACTIVE_RETRIES {
                        self.report.records_not_eligible += 1;
                        return;
                    }
                }
                Some((status, _)) if status.is_client_error() => {
                    return self
                        .report
                        .client_errors
                        .push((status.as_u16(), format!("POST {path}")));
                }
                _ => {}
            }
            if !self.may_retry(started) {
                self.report.gave_up += 1;
                return;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// Follows tracking's `events_applied` (`GET /tracking/status`) every 200 ms until the
/// deadline: when deliveries resume after a relay or broker fault.
pub async fn watch_deliveries(
    http: reqwest::Client,
    tracking: String,
    deadline: Instant,
) -> (Vec<(Instant, i64)>, Vec<Outcome>) {
    let url = format!("{tracking}/tracking/status");
    let (mut samples, mut outcomes) = (Vec::new(), Vec::new());
    while Instant::now() < deadline {
        let started = Instant::now();
        let result = http.get(&url).timeout(Duration::from_secs(2)).send().await;
        let answer = match result {
            Ok(response) => {
                let status = response.status();
                if let Ok(status_body) = response.json::<Value>().await {
                    if let Some(applied) = status_body["events_applied"].as_i64() {
                        samples.push((Instant::now(), applied));
                    }
                }
                Answer::Status(status.as_u16())
            }
            Err(e) if e.is_timeout() => Answer::TimedOut,
            Err(e) if e.is_connect() => Answer::Refused,
            Err(_) => Answer::Broken,
        };
        outcomes.push(Outcome {
            target: Target::Tracking,
            started,
            finished: Instant::now(),
            answer,
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (samples, outcomes)
}
