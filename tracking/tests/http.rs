//! The tracking API: bodies, idempotent retries by `external_id`, statistics, problems.
//! The view is filled by applying events directly (the consumers are tested elsewhere).

mod common;

use common::*;
use contract::v1::{CloudEvent, IntegrationEvent};
use pulsar_test_broker::TestBroker;
use serde_json::{json, Value};

struct Fixture {
    _db: TestDb,
    _broker: TestBroker,
    tracking: Tracking,
    campaign: String,
}

/// The service over a view where `campaign` is active with participants p-1 and p-2.
async fn fixture() -> Fixture {
    let db = TestDb::new().await;
    let broker = TestBroker::start().await;
    let tracking = start_tracking(&db, &broker).await;
    let mut campaign = CampaignStream::new();
    for event in campaign.active_with(&["p-1", "p-2"]) {
        apply(&db, &event).await;
    }
    Fixture {
        _db: db,
        _broker: broker,
        tracking,
        campaign: campaign.id,
    }
}

async fn apply(db: &TestDb, event: &CloudEvent<IntegrationEvent>) {
    tracking::view::apply(&db.db, "tracking", event)
        .await
        .expect("applied");
}

#[tokio::test]
async fn occurred_at_is_rfc3339_or_epoch_milliseconds_and_defaults_to_now() {
    let f = fixture().await;
    for (occurred_at, expected) in [
        (json!("2026-11-22T11:00:00+01:00"), "2026-11-22T10:00:00Z"),
        (json!(1_795_341_600_000_i64), "2026-11-22T10:00:00Z"),
        (json!(1_795_341_600_123_i64), "2026-11-22T10:00:00.123Z"),
    ] {
        let body = json!({"campaign_id": f.campaign, "partner_id": "p-1", "occurred_at": occurred_at});
        let response = f.tracking.post("/tracking/clicks", &body).await;
        assert_eq!(response.status(), 201);
        let click: Value = response.json().await.unwrap();
        assert_eq!(click["occurred_at"], expected);
    }
    let body = json!({"campaign_id": f.campaign, "partner_id": "p-1"});
    let click: Value = f
        .tracking
        .post("/tracking/clicks", &body)
        .await
        .json()
        .await
        .unwrap();
    let occurred_at = click["occurred_at"].as_str().unwrap_or_default();
    let occurred_at = chrono::DateTime::parse_from_rfc3339(occurred_at).expect("a date-time");
    let age = chrono::Utc::now().signed_duration_since(occurred_at);
    assert!(age.num_seconds().abs() < 60, "defaults to now: {click}");

    for bad in [json!("yesterday"), json!(1.5), json!(true)] {
        let body = json!({"campaign_id": f.campaign, "partner_id": "p-1", "occurred_at": bad});
        let problem = assert_problem(
            f.tracking.post("/tracking/clicks", &body).await,
            400,
            "request.invalid_field",
        )
        .await;
        assert_eq!(problem["field"], "occurred_at");
    }
}

#[tokio::test]
async fn a_repeated_external_id_answers_the_first_record_and_records_nothing() {
    let f = fixture().await;
    let body = json!({"campaign_id": f.campaign, "partner_id": "p-1", "external_id": "click-42"});
    let first: Value = f
        .tracking
        .post("/tracking/clicks", &body)
        .await
        .json()
        .await
        .unwrap();
    let response = f.tracking.post("/tracking/clicks", &body).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Value>().await.unwrap(), first);

    let conversion = json!({"campaign_id": f.campaign, "partner_id": "p-2", "external_id": "order-7",
                            "value": {"amount": 120, "currency": "usd"}});
    let first: Value = f
        .tracking
        .post("/tracking/conversions", &conversion)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["value"], json!({"amount": "120.00", "currency": "USD"}));
    let again: Value = f
        .tracking
        .post("/tracking/conversions", &conversion)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again, first);

    let stats = f.tracking.stats(&f.campaign).await;
    assert_eq!(stats["clicks"], 1);
    assert_eq!(stats["conversions"]["count"], 1);
}

#[tokio::test]
async fn stats_count_clicks_and_conversions_in_total_and_per_partner() {
    let f = fixture().await;
    let click = |partner: &str| json!({"campaign_id": f.campaign, "partner_id": partner});
    for partner in ["p-1", "p-1", "p-2"] {
        assert_eq!(
            f.tracking
                .post("/tracking/clicks", &click(partner))
                .await
                .status(),
            201
        );
    }
    for (partner, value) in [
        ("p-1", json!({"amount": "10.50", "currency": "EUR"})),
        ("p-1", json!({"amount": "4.50", "currency": "EUR"})),
        ("p-1", json!({"amount": "1000", "currency": "JPY"})),
        ("p-2", Value::Null),
    ] {
        let mut body = click(partner);
        if !value.is_null() {
            body["value"] = value;
        }
        assert_eq!(
            f.tracking.post("/tracking/conversions", &body).await.status(),
            201
        );
    }

    let stats = f.tracking.stats(&f.campaign).await;
    assert_eq!(
        stats,
        json!({
            "campaign_id": f.campaign,
            "status": "active",
            "clicks": 3,
            "conversions": {"count": 4, "value": [
                {"amount": "15.00", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}]},
            "partners": [
                {"partner_id": "p-1", "taking_part": true, "clicks": 2, "conversions": {"count": 3, "value": [
                    {"amount": "15.00", "currency": "EUR"}, {"amount": "1000", "currency": "JPY"}]}},
                {"partner_id": "p-2", "taking_part": true, "clicks": 1, "conversions": {"count": 1, "value": []}}
            ]
        })
    );
    let unknown = f.tracking.get("/tracking/campaigns/nope/stats").await;
    assert_problem(unknown, 404, "tracking.campaign_not_found").await;
}

#[tokio::test]
async fn malformed_requests_are_problems() {
    let f = fixture().await;
    let url = format!("{}/tracking/clicks", f.tracking.address);
    let client = &f.tracking.client;

    let no_json = client.post(&url).body("campaign_id=1").send().await.unwrap();
    assert_problem(no_json, 415, "request.unsupported_media_type").await;
    let broken = client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"campaign_id\":")
        .send()
        .await
        .unwrap();
    assert_problem(broken, 400, "request.malformed_json").await;
    let array = f.tracking.post("/tracking/clicks", &json!([1, 2])).await;
    assert_problem(array, 400, "request.invalid_body").await;
    let missing = f
        .tracking
        .post("/tracking/clicks", &json!({"campaign_id": f.campaign}))
        .await;
    assert_problem(missing, 400, "request.invalid_field").await;
    let unknown_field = json!({"campaign_id": f.campaign, "partner_id": "p-1", "fecha": 1});
    assert_problem(
        f.tracking.post("/tracking/clicks", &unknown_field).await,
        400,
        "request.invalid_field",
    )
    .await;
    let wrong_type = json!({"campaign_id": 12, "partner_id": "p-1"});
    let problem = assert_problem(
        f.tracking.post("/tracking/clicks", &wrong_type).await,
        400,
        "request.invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "campaign_id");

    let blank = json!({"campaign_id": " ", "partner_id": "p-1"});
    let problem = assert_problem(
        f.tracking.post("/tracking/clicks", &blank).await,
        422,
        "tracking.invalid_id",
    )
    .await;
    assert_eq!(problem["field"], "campaign_id");
    let long_external =
        json!({"campaign_id": f.campaign, "partner_id": "p-1", "external_id": "x".repeat(256)});
    assert_problem(
        f.tracking.post("/tracking/clicks", &long_external).await,
        422,
        "tracking.invalid_external_id",
    )
    .await;
    let bad_money =
        json!({"campaign_id": f.campaign, "partner_id": "p-1", "value": {"amount": "1", "currency": "XXX"}});
    let problem = assert_problem(
        f.tracking.post("/tracking/conversions", &bad_money).await,
        422,
        "money.unknown_currency",
    )
    .await;
    assert_eq!(problem["field"], "value.currency");
    let negative =
        json!({"campaign_id": f.campaign, "partner_id": "p-1", "value": {"amount": -3, "currency": "EUR"}});
    assert_problem(
        f.tracking.post("/tracking/conversions", &negative).await,
        422,
        "money.non_positive_amount",
    )
    .await;
    let too_big = "x".repeat(20_000);
    let huge = json!({"campaign_id": too_big, "partner_id": "p-1"});
    assert_problem(
        f.tracking.post("/tracking/clicks", &huge).await,
        413,
        "request.body_too_large",
    )
    .await;

    assert_problem(
        f.tracking.get("/tracking/nothing").await,
        404,
        "request.unknown_route",
    )
    .await;
    assert_problem(
        f.tracking.get("/tracking/clicks").await,
        405,
        "request.method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn input_no_store_can_hold_is_refused_not_a_500() {
    let f = fixture().await;
    for (body, code, field) in [
        (
            json!({"campaign_id": f.campaign, "partner_id": "p-1\u{0}"}),
            "tracking.invalid_id",
            "partner_id",
        ),
        (
            json!({"campaign_id": "c\u{0}", "partner_id": "p-1"}),
            "tracking.invalid_id",
            "campaign_id",
        ),
        (
            json!({"campaign_id": f.campaign, "partner_id": "p-1", "external_id": "a\u{0}b"}),
            "tracking.invalid_external_id",
            "external_id",
        ),
        (
            json!({"campaign_id": f.campaign, "partner_id": "p-1", "occurred_at": -1_000_000_000_000_000_i64}),
            "tracking.invalid_occurred_at",
            "occurred_at",
        ),
        (
            json!({"campaign_id": f.campaign, "partner_id": "p-1", "occurred_at": "0000-01-01T00:00:00Z"}),
            "tracking.invalid_occurred_at",
            "occurred_at",
        ),
    ] {
        for path in ["/tracking/clicks", "/tracking/conversions"] {
            let problem = assert_problem(f.tracking.post(path, &body).await, 422, code).await;
            assert_eq!(problem["field"], field, "{path} {body}");
        }
    }
    let stats = f
        .tracking
        .client
        .get(format!("{}/tracking/campaigns/%00/stats", f.tracking.address))
        .send()
        .await
        .unwrap();
    assert_problem(stats, 404, "tracking.campaign_not_found").await;
}

#[tokio::test]
async fn external_ids_are_scoped_to_their_campaign() {
    let f = fixture().await;
    let mut other = CampaignStream::new();
    for event in other.active_with(&["p-9"]) {
        apply(&f._db, &event).await;
    }
    let ours = json!({"campaign_id": f.campaign, "partner_id": "p-1", "external_id": "shared-1"});
    let first: Value = f
        .tracking
        .post("/tracking/clicks", &ours)
        .await
        .json()
        .await
        .unwrap();

    // The same external id in another campaign is another click, and reveals nothing.
    let theirs = json!({"campaign_id": other.id, "partner_id": "p-9", "external_id": "shared-1"});
    let response = f.tracking.post("/tracking/clicks", &theirs).await;
    assert_eq!(response.status(), 201);
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["id"], first["id"]);
    assert_eq!(second["campaign_id"], other.id.as_str());
    // ...and one campaign that never ran cannot fish for it.
    let fishing =
        json!({"campaign_id": "no-such-campaign", "partner_id": "nobody", "external_id": "shared-1"});
    let response = f.tracking.post("/tracking/clicks", &fishing).await;
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn trackers_record_readers_read_and_nobody_without_a_token() {
    let fixture = fixture().await;
    let address = &fixture.tracking.address;
    let click = serde_json::json!({"campaign_id": fixture.campaign, "partner_id": "p-1"});
    let as_role = |role| client_as(&auth::Principal::new(format!("t-{role:?}"), role));
    let tracker = as_role(auth::Role::Tracker);
    let reader = as_role(auth::Role::Reader);
    let brand = client_as(&auth::Principal::brand("t-brand", "b-1"));

    let recorded = tracker
        .post(format!("{address}/tracking/clicks"))
        .json(&click)
        .send()
        .await
        .unwrap();
    assert_eq!(recorded.status(), 201);
    for refused in [&reader, &brand] {
        let response = refused
            .post(format!("{address}/tracking/clicks"))
            .json(&click)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
    }
    let stats = format!("{address}/tracking/campaigns/{}/stats", fixture.campaign);
    assert_eq!(reader.get(&stats).send().await.unwrap().status(), 200);
    assert_eq!(tracker.get(&stats).send().await.unwrap().status(), 403);
    let anonymous = reqwest::Client::new().get(&stats).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], r#"Bearer realm="alpes""#);
}
