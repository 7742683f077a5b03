//! Server limits and protective defaults: slow and idle clients are cut off within
//! their timeouts while others are served, load beyond the caps is refused at once
//! (503, 429 with `Retry-After`), and every answer carries the protective headers.
//! The same for `alpes tracking`'s server.
//!
//! Timeouts here are a few hundred milliseconds; the assertions only say "cut off
//! before X", never how fast anything was.

use crate::helpers::{assert_problem, spawn_app_with, TestApp};
use alpes::server::HttpSettings;
use alpes::settings::Settings;
use reqwest::header::HeaderMap;
use std::num::NonZeroU32;
use std::time::Duration;
use test_support::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: Duration = Duration::from_millis(300);
/// Far longer than any timeout a test sets: a connection still open then was not cut.
const CUT_OFF_WITHIN: Duration = Duration::from_secs(5);

/// An app whose HTTP limits `adjust` sets (from the production defaults).
async fn app_with(adjust: impl FnOnce(&mut HttpSettings)) -> TestApp {
    spawn_app_with(|settings: &mut Settings| adjust(&mut settings.http)).await
}

fn host_port(address: &str) -> &str {
    address.trim_start_matches("http://")
}

async fn connect(address: &str) -> TcpStream {
    TcpStream::connect(host_port(address)).await.expect("connect")
}

/// Everything the server sends until it closes the connection; fails if it is still
/// open after `within`.
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin), within: Duration) -> String {
    let mut received = Vec::new();
    let outcome = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    let received = String::from_utf8_lossy(&received).into_owned();
    assert!(
        outcome.is_ok(),
        "the connection was still open; received: {received}"
    );
    received
}

#[tokio::test]
async fn an_idle_connection_is_closed_within_the_idle_timeout() {
    let app = app_with(|http| http.idle_timeout = SHORT).await;

    // A connection that never sends anything.
    let mut silent = connect(&app.address).await;
    assert_eq!(read_until_closed(&mut silent, CUT_OFF_WITHIN).await, "");

    // A keep-alive connection after its answer.
    let mut kept = connect(&app.address).await;
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let received = read_until_closed(&mut kept, CUT_OFF_WITHIN).await;
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");

    // Meanwhile, and after, others are served.
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn a_client_trickling_its_header_lines_is_cut_off_at_the_header_timeout() {
    let app = app_with(|http| http.header_timeout = SHORT).await;
    let (mut reader, mut writer) = connect(&app.address).await.into_split();

    // One header line every 100 ms, for far longer than the header timeout.
    let trickle = tokio::spawn(async move {
        writer.write_all(b"GET /health HTTP/1.1\r\n").await?;
        for line in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            writer
                .write_all(format!("x-slow-{line}: 1\r\n").as_bytes())
                .await?;
        }
        std::io::Result::Ok(())
    });
    let received = read_until_closed(&mut reader, CUT_OFF_WITHIN).await;
    assert!(
        !received.contains("200"),
        "the trickled request was answered: {received}"
    );
    trickle.abort();

    assert_eq!(app.get("/health").await.status(), 200);
}

/// The head of a command whose 100-byte body then comes one byte every 100 ms.
async fn trickle_a_body(address: &str, path: &str) -> String {
    let (mut reader, mut writer) = connect(address).await.into_split();
    let token = crate::helpers::token(&crate::helpers::test_admin());
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{"
    );
    let trickle = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for _ in 0..99 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            writer.write_all(b" ").await?;
        }
        std::io::Result::Ok(())
    });
    let received = read_until_closed(&mut reader, CUT_OFF_WITHIN).await;
    trickle.abort();
    received
}

fn assert_raw_problem(received: &str, status: &str, code: &str) {
    assert!(received.starts_with(&format!("HTTP/1.1 {status}")), "{received}");
    let lower = received.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{received}"
    );
    assert!(received.contains(&format!("\"code\":\"{code}\"")), "{received}");
}

#[tokio::test]
async fn a_client_trickling_its_body_gets_a_408_problem_at_the_body_timeout() {
    let app = app_with(|http| http.body_timeout = SHORT).await;

    let received = trickle_a_body(&app.address, "/partners").await;

    assert_raw_problem(&received, "408", "request.body_timeout");
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn half_sent_requests_beyond_the_connection_cap_do_not_stop_other_clients() {
    let app = app_with(|http| {
        http.max_connections = 4;
        http.header_timeout = SHORT;
    })
    .await;

    // Five times the cap of clients that start a request and never finish it.
    let mut holders = Vec::new();
    for _ in 0..20 {
        let mut stream = connect(&app.address).await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: te")
            .await
            .unwrap();
        holders.push(stream);
    }

    // A normal client is served meanwhile, once the header timeout has freed places.
    let client = reqwest::Client::builder()
        .timeout(CUT_OFF_WITHIN)
        .build()
        .unwrap();
    let served = client
        .get(format!("{}/health", app.address))
        .send()
        .await
        .expect("a normal client is served while the slow ones hold connections");
    assert_eq!(served.status(), 200);

    // And every holder was cut off, unanswered.
    for mut holder in holders {
        let received = read_until_closed(&mut holder, CUT_OFF_WITHIN).await;
        assert!(!received.contains("200"), "{received}");
    }
}

/// A query that waits as long as the consistency timeout: for the campaigns view to
/// apply an event it cannot apply (it stops there).
async fn waiting_query(app: &TestApp) -> String {
    let position = app
        .append_raw(
            "poison",
            1,
            "CampaignCreated",
            "1.0",
            &serde_json::json!({"not": "an event"}),
        )
        .await;
    format!("/campaigns?min_position={position}")
}

#[tokio::test]
async fn a_request_over_the_request_timeout_answers_a_503_problem() {
    let app = spawn_app_with(|settings| {
        settings.consistency_timeout = Duration::from_secs(10);
        settings.http.request_timeout = SHORT;
    })
    .await;

    let response = app.get(&waiting_query(&app).await).await;

    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 503, "service.timeout").await;
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn requests_beyond_the_cap_answer_503_with_retry_after_at_once() {
    let app = spawn_app_with(|settings| {
        settings.consistency_timeout = Duration::from_secs(3);
        settings.http.max_requests = 1;
    })
    .await;
    // One request holds the only place for the consistency timeout (retried if one
    // of the probes below held it when it came).
    let holder = {
        let (client, url) = (
            app.client.clone(),
            format!("{}{}", app.address, waiting_query(&app).await),
        );
        tokio::spawn(async move {
            loop {
                let response = client.get(&url).send().await.unwrap();
                let body: serde_json::Value = response.json().await.unwrap();
                if body["code"] != "service.overloaded" {
                    return body;
                }
            }
        })
    };

    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let refused = loop {
        let response = app.get("/health").await;
        if response.status() == 503 {
            break response;
        }
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    assert_eq!(refused.headers()["retry-after"], "1");
    assert_problem(refused, 503, "service.overloaded").await;
    // The held request went its way (its own 503: the view never got there).
    assert_eq!(holder.await.unwrap()["code"], "query.not_caught_up");
    assert_eq!(app.get("/health").await.status(), 200);
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let app = app_with(|http| http.rate_limit = NonZeroU32::new(2)).await;

    let first = app.get("/health").await;
    assert_eq!(first.status(), 200);
    let mut limited = None;
    for _ in 0..20 {
        let response = app.get("/health").await;
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }

    let limited = limited.expect("20 requests in a row at 2 per second were never limited");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_protective_headers(limited.headers());
    assert_problem(limited, 429, "request.rate_limited").await;
}

fn assert_protective_headers(headers: &HeaderMap) {
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn every_answer_carries_the_protective_headers() {
    let app = app_with(|_| {}).await;

    for path in ["/health", "/campaigns", "/nope", "/openapi.json"] {
        assert_protective_headers(app.get(path).await.headers());
    }
    let refused = app.post_json("/partners", &serde_json::json!({})).await;
    assert_eq!(refused.status(), 400);
    assert_protective_headers(refused.headers());
}

/// The request id the server answers for a request sent with `id`.
async fn answered_request_id(app: &TestApp, id: &str) -> String {
    let response = app
        .request(reqwest::Method::GET, "/health")
        .header("x-request-id", id)
        .send()
        .await
        .unwrap();
    response.headers()["x-request-id"].to_str().unwrap().to_owned()
}

fn is_safe_token(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[tokio::test]
async fn a_hostile_request_id_is_replaced_and_a_good_one_echoed() {
    let app = app_with(|_| {}).await;

    assert_eq!(answered_request_id(&app, "req-42.a_B").await, "req-42.a_B");
    for hostile in ["<script>evil</script>", &"a".repeat(65), "a b", "x;y=1"] {
        let answered = answered_request_id(&app, hostile).await;
        assert_ne!(answered, hostile);
        assert!(is_safe_token(&answered), "{answered}");
    }
    // Without one, the server makes one.
    let fresh = app.get("/health").await.headers()["x-request-id"].clone();
    assert!(is_safe_token(fresh.to_str().unwrap()));
}

const ORIGIN: &str = "https://app.example.com";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.request(reqwest::Method::OPTIONS, "/partners")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, idempotency-key")
        .send()
        .await
        .unwrap()
}

async fn get_from(app: &TestApp, origin: &str) -> reqwest::Response {
    app.request(reqwest::Method::GET, "/health")
        .header("origin", origin)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = app_with(|_| {}).await;

    assert!(!preflight(&app, ORIGIN)
        .await
        .headers()
        .contains_key("access-control-allow-origin"));
    assert!(!get_from(&app, ORIGIN)
        .await
        .headers()
        .contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let app = app_with(|http| http.cors_origins = vec![ORIGIN.to_owned()]).await;

    let allowed = preflight(&app, ORIGIN).await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], ORIGIN);
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let answered = get_from(&app, ORIGIN).await;
    assert_eq!(answered.headers()["access-control-allow-origin"], ORIGIN);
    assert_protective_headers(answered.headers());

    let other = get_from(&app, "https://evil.example.com").await;
    assert!(!other.headers().contains_key("access-control-allow-origin"));
}

/// `alpes tracking`'s server, over a new database, with `http`'s limits.
async fn spawn_tracking(http: HttpSettings) -> (String, TestDb) {
    let database = TestDb::of(test_support::backend()).await;
    tracking::migrate(&database.db)
        .await
        .expect("tracking's migrations");
    let (service, _transport) = tracking::TrackingService::start_in_process(database.db.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        alpes::services::serve_tracking(
            listener,
            &service,
            &crate::helpers::test_authentication(),
            &http,
            std::future::pending(),
        )
        .await
    });
    (address, database)
}

#[tokio::test]
async fn alpes_tracking_has_the_same_limits_and_protections() {
    let (address, _database) = spawn_tracking(HttpSettings {
        body_timeout: SHORT,
        idle_timeout: SHORT,
        rate_limit: NonZeroU32::new(50),
        ..HttpSettings::default()
    })
    .await;
    let client = crate::helpers::client_as(&crate::helpers::test_admin());

    // Protective headers and a safe request id.
    let status = client
        .get(format!("{address}/tracking/status"))
        .header("x-request-id", "<script>evil</script>")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    assert_protective_headers(status.headers());
    assert!(is_safe_token(status.headers()["x-request-id"].to_str().unwrap()));

    // Slow clients are cut off: a trickled body gets the 408 problem; an idle
    // connection is closed.
    let received = trickle_a_body(&address, "/tracking/clicks").await;
    assert_raw_problem(&received, "408", "request.body_timeout");
    let mut idle = connect(&address).await;
    assert_eq!(read_until_closed(&mut idle, CUT_OFF_WITHIN).await, "");

    // The rate limit applies, with the same problem.
    let mut limited = None;
    for _ in 0..200 {
        let response = client
            .get(format!("{address}/tracking/status"))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("200 requests in a row at 50 per second were never limited");
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, 429, "request.rate_limited").await;
}
