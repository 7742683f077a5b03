//! What operators see: `/metrics` read as Prometheus reads it after a known workload,
//! and one request's trace followed into its events, the message the relay publishes
//! and the logs of the tracking service that applies it.
//!
//! A test binary of its own: the metrics recorder is the process's, so the counts
//! checked here must not see other tests' commands. Its tests take turns ([`SERIAL`]).

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use alpes::settings::BusSettings;
use auth::{Principal, Role};
use helpers::*;
use openmetrics_parser::{MetricsExposition, PrometheusType, PrometheusValue};
use pulsar_test_broker::TestBroker;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The tests of this binary take turns: the figures are the whole process's.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `/metrics`, parsed.
type Scrape = MetricsExposition<PrometheusType, PrometheusValue>;

async fn scrape(app: &TestApp) -> Scrape {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    openmetrics_parser::prometheus::parse_prometheus(&text)
        .unwrap_or_else(|error| panic!("{error:?}: {text}"))
}

/// The value of the series of `metric` whose labels include `labels` (0 when none: a
/// series appears with its first count); for a histogram, its count.
fn figure(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let Some(family) = scrape.families.get(metric) else {
        return 0.0;
    };
    let matching: Vec<_> = family
        .iter_samples()
        .filter(|sample| {
            let labelset = sample.get_labelset().unwrap();
            labels
                .iter()
                .all(|(name, value)| labelset.get_label_value(name) == Some(*value))
        })
        .collect();
    assert!(matching.len() <= 1, "{metric} {labels:?} names several series");
    match matching.first().map(|sample| &sample.value) {
        None => 0.0,
        Some(PrometheusValue::Counter(counter)) => counter.value.as_f64(),
        Some(PrometheusValue::Gauge(value) | PrometheusValue::Unknown(value)) => value.as_f64(),
        Some(PrometheusValue::Histogram(histogram)) => histogram.count.unwrap_or_default() as f64,
        Some(PrometheusValue::Summary(_)) => panic!("{metric} is a summary"),
    }
}

/// Scrapes until `done` holds (10 s at most): figures read from a status follow the
/// work in the background (projectors, relay, tracking).
async fn scrape_until(app: &TestApp, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let scrape = scrape(app).await;
        if done(&scrape) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "the figures never got there");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn plain_campaign(name: &str) -> Value {
    json!({ "name": name, "brand_id": "brand-metrics", "budget": { "amount": 100, "currency": "EUR" } })
}

#[tokio::test]
async fn metrics_count_a_known_workload() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app().await;
    let before = scrape(&app).await;
    let created = |scrape: &Scrape, outcome: &str| {
        figure(
            scrape,
            "alpes_commands_total",
            &[
                ("aggregate", "campaign"),
                ("command", "CreateCampaign"),
                ("outcome", outcome),
            ],
        )
    };
    let http = |scrape: &Scrape, status: &str| {
        figure(
            scrape,
            "alpes_http_requests_total",
            &[("method", "POST"), ("route", "/campaigns"), ("status", status)],
        )
    };

    // 10 commands that succeed, 1 the domain refuses, 1 on a campaign that does not
    // exist, 1 refused before any command (no token), 1 on no route.
    for n in 0..10 {
        app.create_campaign_with(&plain_campaign(&format!("Campaign {n}")))
            .await;
    }
    let refused = app
        .post_json(
            "/campaigns",
            &json!({ "name": "", "brand_id": "b", "budget": { "amount": 1, "currency": "EUR" } }),
        )
        .await;
    assert_eq!(refused.status(), 422);
    let missing = app
        .post(&format!("/campaigns/{}/activate", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(missing.status(), 404);
    let anonymous = reqwest::Client::new()
        .post(format!("{}/campaigns", app.address))
        .json(&plain_campaign("Nobody's"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(app.get("/no/such/route").await.status(), 404);

    let after = scrape_until(&app, |scrape| {
        figure(
            scrape,
            "alpes_projector_lag_events",
            &[("projector", "campaigns")],
        ) == 0.0
            && figure(scrape, "alpes_relay_lag_events", &[]) == 0.0
            && figure(scrape, "alpes_tracking_events_applied_total", &[])
                >= figure(&before, "alpes_tracking_events_applied_total", &[]) + 10.0
    })
    .await;
    let delta = |metric: &str, labels: &[(&str, &str)]| {
        figure(&after, metric, labels) - figure(&before, metric, labels)
    };

    assert_eq!(created(&after, "succeeded") - created(&before, "succeeded"), 10.0);
    assert_eq!(
        created(&after, "rule_violation") - created(&before, "rule_violation"),
        1.0
    );
    assert_eq!(
        delta(
            "alpes_commands_total",
            &[("command", "Activate"), ("outcome", "not_found")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "alpes_command_duration_seconds",
            &[("command", "CreateCampaign"), ("outcome", "succeeded")]
        ),
        10.0
    );
    assert_eq!(
        delta("alpes_events_appended_total", &[("aggregate", "campaign")]),
        10.0
    );
    assert!(delta("alpes_group_commit_batch_commands", &[]) >= 1.0);
    assert_eq!(http(&after, "201") - http(&before, "201"), 10.0);
    assert_eq!(http(&after, "422") - http(&before, "422"), 1.0);
    assert_eq!(
        http(&after, "401") - http(&before, "401"),
        1.0,
        "the guard's refusals count under their route"
    );
    assert_eq!(
        delta(
            "alpes_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/campaigns/{id}/activate"),
                ("status", "404")
            ]
        ),
        1.0
    );
    // A path no route matches is not a label of its own.
    assert_eq!(
        delta(
            "alpes_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    let requests = &after.families["alpes_http_requests_total"];
    assert!(requests
        .iter_samples()
        .all(|sample| sample.get_labelset().unwrap().get_label_value("route") != Some("/no/such/route")));
    assert_eq!(
        delta(
            "alpes_http_request_duration_seconds",
            &[("method", "POST"), ("route", "/campaigns"), ("status", "201")]
        ),
        10.0
    );

    // Read from the statuses: the same figures as GET /projections and GET /relay.
    let projections = app.get_json("/projections").await;
    let campaigns = projections
        .as_array()
        .unwrap()
        .iter()
        .find(|projection| projection["name"] == "campaigns")
        .unwrap();
    let checkpoint = figure(
        &after,
        "alpes_projector_checkpoint_position",
        &[("projector", "campaigns")],
    );
    assert!(checkpoint >= 10.0);
    assert!(campaigns["checkpoint"].as_f64().unwrap() >= checkpoint);
    assert_eq!(
        figure(
            &after,
            "alpes_projector_head_position",
            &[("projector", "campaigns")]
        ),
        checkpoint
    );
    assert_eq!(
        figure(
            &after,
            "alpes_projector_lag_seconds",
            &[("projector", "campaigns")]
        ),
        0.0
    );
    assert_eq!(
        figure(
            &after,
            "alpes_projector_state",
            &[("projector", "campaigns"), ("state", "running")]
        ),
        1.0
    );
    assert_eq!(
        figure(
            &after,
            "alpes_projector_state",
            &[("projector", "campaigns"), ("state", "failed")]
        ),
        0.0
    );
    assert!(
        figure(
            &after,
            "alpes_projector_events_applied_total",
            &[("projector", "campaigns")]
        ) >= 10.0
    );
    assert_eq!(
        figure(&after, "alpes_relay_state", &[("state", "caught_up")]),
        1.0
    );
    assert!(delta("alpes_relay_messages_published_total", &[]) >= 10.0);
    assert_eq!(figure(&after, "alpes_relay_lag_seconds", &[]), 0.0);
    assert_eq!(figure(&after, "alpes_relay_in_flight_messages", &[]), 0.0);
    assert!(
        delta(
            "alpes_tracking_events_received_total",
            &[("consumer", "in-process")]
        ) >= 10.0
    );
    assert_eq!(figure(&after, "alpes_seed_commands_pending", &[]), 0.0);
    let max = figure(&after, "alpes_db_pool_max_connections", &[("pool", "events")]);
    assert_eq!(max, 8.0, "the test settings' pool");
    let open = figure(
        &after,
        "alpes_db_pool_connections",
        &[("pool", "events"), ("state", "idle")],
    ) + figure(
        &after,
        "alpes_db_pool_connections",
        &[("pool", "events"), ("state", "in_use")],
    );
    assert!(open >= 1.0 && open <= max);
    // Every metric is described, with the type its name promises.
    for family in after.families.values() {
        assert!(!family.help.is_empty(), "{} has no HELP", family.family_name);
        if family.family_name.ends_with("_total") {
            assert_eq!(
                family.family_type,
                PrometheusType::Counter,
                "{}",
                family.family_name
            );
        }
        if family.family_name.ends_with("_seconds") && family.family_type == PrometheusType::Histogram {
            assert!(family.iter_samples().all(|sample| matches!(&sample.value,
                PrometheusValue::Histogram(histogram) if histogram.buckets.len() > 5)));
        }
    }
}

#[tokio::test]
async fn lag_in_seconds_is_the_age_of_the_oldest_unapplied_event() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app().await;
    // A poison event stops the projector at it: the lag then ages.
    let poison = uuid::Uuid::now_v7().to_string();
    app.append_raw(
        &poison,
        1,
        "CampaignCreated",
        "1.0",
        &json!({"CampaignCreated": {"nonsense": true}}),
    )
    .await;
    app.wait_for_projection("campaigns", |status| status["state"] == "failed")
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let scrape = scrape(&app).await;
    assert_eq!(
        figure(
            &scrape,
            "alpes_projector_lag_events",
            &[("projector", "campaigns")]
        ),
        1.0
    );
    assert!(
        figure(
            &scrape,
            "alpes_projector_lag_seconds",
            &[("projector", "campaigns")]
        ) >= 1.0
    );
    assert_eq!(
        figure(
            &scrape,
            "alpes_projector_state",
            &[("projector", "campaigns"), ("state", "failed")]
        ),
        1.0
    );
    assert!(
        figure(
            &scrape,
            "alpes_projector_poison_events_total",
            &[("projector", "campaigns")]
        ) >= 1.0
    );
    let status = app.projection("campaigns").await;
    assert!(status["lag_seconds"].as_f64().unwrap() >= 1.0, "{status}");
}

#[tokio::test]
async fn metrics_follow_the_access_rules() {
    let _turn = SERIAL.lock().await;
    let app = spawn_app().await;
    let anonymous = reqwest::Client::new()
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401, "auth.missing_token").await;
    let brand = app.as_principal(&Principal::brand("brand-user", "b1"));
    assert_problem(brand.get("/metrics").await, 403, "auth.forbidden").await;
    let reader = app.as_principal(&Principal::new("grafana", Role::Reader));
    assert_eq!(reader.get("/metrics").await.status(), 200);
}

/// The trace id of a `traceparent`.
fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).expect("a traceparent")
}

const CALLER: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[tokio::test]
async fn a_requests_trace_reaches_its_events_and_the_published_messages() {
    let _turn = SERIAL.lock().await;
    let broker = TestBroker::start().await;
    let app =
        spawn_app_with(|settings| settings.bus = BusSettings::Pulsar(bus::PulsarSettings::new(broker.url())))
            .await;

    let response = app
        .request(reqwest::Method::POST, "/campaigns")
        .header("traceparent", CALLER)
        .json(&plain_campaign("Traced"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["aggregate_id"].as_str().unwrap();

    let events = app.get_json(&format!("/campaigns/{id}/events")).await;
    let traceparent = events["items"][0]["metadata"]["traceparent"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(trace_id(&traceparent), "0af7651916cd43dd8448eb211c80319c");
    assert_ne!(
        traceparent, CALLER,
        "this service's span, a child of the caller's"
    );

    let messages = broker
        .wait_for_messages(bus::DEFAULT_CAMPAIGN_TOPIC, 1, Duration::from_secs(10))
        .await;
    let message: Value = serde_json::from_slice(&messages[0].payload).unwrap();
    assert_eq!(message["traceparent"], traceparent.as_str(), "{message}");

    // A request without one starts a trace of its own; a malformed one is not kept.
    for header in [None, Some("00-not-a-trace")] {
        let mut request = app
            .request(reqwest::Method::POST, "/campaigns")
            .json(&plain_campaign("Untraced"));
        if let Some(header) = header {
            request = request.header("traceparent", header);
        }
        let created: Value = request.send().await.unwrap().json().await.unwrap();
        let events = app
            .get_json(&format!(
                "/campaigns/{}/events",
                created["aggregate_id"].as_str().unwrap()
            ))
            .await;
        let started = events["items"][0]["metadata"]["traceparent"].as_str().unwrap();
        assert_eq!(started.len(), 55, "{started}");
        assert_ne!(trace_id(started), "0af7651916cd43dd8448eb211c80319c");
    }
}

/// Log lines, as the JSON formatter of `alpes --log-format json` writes them.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

/// This process's logs, captured (installed once, before the first app starts).
fn captured_logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter("info,sqlx=warn")
            .with_writer(move || writer.clone())
            .init();
        logs
    })
}

#[tokio::test]
async fn one_trace_id_follows_a_request_to_the_tracking_record_in_the_logs() {
    let _turn = SERIAL.lock().await;
    let logs = captured_logs();
    let app = spawn_app().await;
    let response = app
        .request(reqwest::Method::POST, "/campaigns")
        .header("traceparent", CALLER)
        .json(&plain_campaign("Followed"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let trace = "0af7651916cd43dd8448eb211c80319c";
    let carries_trace = |line: &Value, span: &str| {
        line["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|entered| entered["name"] == span && entered["trace_id"] == trace)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = logs.lines();
        let answered = lines.iter().any(|line| carries_trace(line, "request"));
        let recorded = lines.iter().any(|line| {
            carries_trace(line, "tracking_event") && line["message"] == "event applied to the tracking view"
        });
        if answered && recorded {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "trace {trace} not followed in the logs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
