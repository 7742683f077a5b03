//! Malformed requests: every one is a 4xx problem that writes nothing.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let response = app
        .request(Method::POST, "/campaigns")
        .header("content-type", "application/json")
        .body(r#"{"name": "x", "#)
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "request.malformed_json").await;
}

#[tokio::test]
async fn wrong_types_and_missing_or_unknown_fields_are_400_naming_the_field() {
    let app = spawn_app().await;
    let mut wrong_type = campaign_body();
    wrong_type["budget"]["currency"] = json!(840);
    let problem = assert_problem(
        app.post_json("/campaigns", &wrong_type).await,
        400,
        "request.invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "budget.currency");

    let mut missing = campaign_body();
    missing.as_object_mut().unwrap().remove("brand_id");
    let problem = assert_problem(
        app.post_json("/campaigns", &missing).await,
        400,
        "request.invalid_field",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("brand_id"),
        "{problem}"
    );

    let mut unknown = campaign_body();
    unknown["presupuesto"] = json!(1);
    let problem = assert_problem(
        app.post_json("/campaigns", &unknown).await,
        400,
        "request.invalid_field",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("presupuesto"),
        "{problem}"
    );

    assert_problem(
        app.post_json("/campaigns", &json!(["Test", "brand", {}])).await,
        400,
        "request.invalid_body",
    )
    .await;
    assert_eq!(app.count_events().await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let response = app
        .request(Method::POST, "/partners")
        .body(partner_body().to_string())
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "request.unsupported_media_type").await;
    let response = app
        .request(Method::POST, "/partners")
        .header("content-type", "text/plain")
        .body(partner_body().to_string())
        .send()
        .await
        .unwrap();
    assert_problem(response, 415, "request.unsupported_media_type").await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_413() {
    let app = spawn_app().await;
    let mut body = partner_body();
    body["profile"] = json!("x".repeat(70 * 1024));
    assert_problem(
        app.post_json("/partners", &body).await,
        413,
        "request.body_too_large",
    )
    .await;
    assert_eq!(app.count_events().await, 0);
}

#[tokio::test]
async fn bad_command_headers_are_400() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    let bad_if_match = app
        .request(Method::POST, &format!("/campaigns/{id}/activate"))
        .header("If-Match", "\"two\"");
    assert_problem(
        bad_if_match.send().await.unwrap(),
        400,
        "request.invalid_if_match",
    )
    .await;
    let bad_key = app
        .request(Method::POST, "/partners")
        .header("Idempotency-Key", "a b")
        .json(&partner_body());
    assert_problem(
        bad_key.send().await.unwrap(),
        400,
        "request.invalid_idempotency_key",
    )
    .await;
    let long_key = app
        .request(Method::POST, "/partners")
        .header("Idempotency-Key", "k".repeat(256))
        .json(&partner_body());
    assert_problem(
        long_key.send().await.unwrap(),
        400,
        "request.invalid_idempotency_key",
    )
    .await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app().await;
    assert_problem(
        app.request(Method::GET, "/nowhere").send().await.unwrap(),
        404,
        "request.unknown_route",
    )
    .await;
    assert_problem(
        app.request(Method::PATCH, "/campaigns").send().await.unwrap(),
        405,
        "request.method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn text_no_store_can_hold_is_refused_with_422() {
    let app = spawn_app().await;
    let mut nul = campaign_body();
    nul["name"] = json!("Eve\u{0}Launch");
    let problem = assert_problem(
        app.post_json("/campaigns", &nul).await,
        422,
        "campaign.invalid_name",
    )
    .await;
    assert_eq!(problem["field"], "name");
    let mut ancient = campaign_body();
    ancient["starts_at"] = json!("0000-06-01T00:00:00Z");
    ancient["ends_at"] = json!("2026-06-01T00:00:00Z");
    let problem = assert_problem(
        app.post_json("/campaigns", &ancient).await,
        422,
        "campaign.schedule_out_of_range",
    )
    .await;
    assert_eq!(problem["field"], "starts_at");
    let mut partner = partner_body();
    partner["profile"] = json!("nul\u{0}");
    assert_problem(
        app.post_json("/partners", &partner).await,
        422,
        "partner.invalid_profile",
    )
    .await;
    assert_eq!(app.count_events().await, 0);
}

#[tokio::test]
async fn a_missing_field_is_named() {
    let app = spawn_app().await;
    let mut body = campaign_body();
    body["budget"].as_object_mut().unwrap().remove("currency");
    let problem = assert_problem(
        app.post_json("/campaigns", &body).await,
        400,
        "request.invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "budget.currency");
}

#[tokio::test]
async fn amounts_a_json_number_cannot_carry_exactly_are_refused_not_rounded() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    let body = r#"{"amount": 100000000000000.01, "currency": "USD"}"#;
    let response = app
        .request(Method::PUT, &format!("/campaigns/{id}/budget"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 400, "request.invalid_field").await;
    assert_eq!(problem["field"], "amount");
    // The same amount as a string is exact.
    let exact = json!({"amount": "100000000000000.01", "currency": "USD"});
    accepted(
        app.put_json(&format!("/campaigns/{id}/budget"), &exact).await,
        200,
    )
    .await;
    let last = app.stored_events(&id).await.pop().unwrap();
    assert_eq!(last.4["BudgetChanged"]["budget"]["amount"], "100000000000000.01");
}

#[tokio::test]
async fn if_match_on_an_unknown_aggregate_is_404() {
    let app = spawn_app().await;
    let request = app
        .request(
            Method::POST,
            &format!("/campaigns/{}/activate", uuid::Uuid::new_v4()),
        )
        .header("If-Match", "\"1\"");
    assert_problem(request.send().await.unwrap(), 404, "campaign.not_found").await;
}
