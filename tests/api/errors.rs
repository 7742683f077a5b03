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
