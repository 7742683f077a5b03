//! `Idempotency-Key`: a retried request answers the first outcome and writes nothing.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> reqwest::Response {
    app.request(Method::POST, path)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retried_creation_answers_the_same_campaign_and_event_ids() {
    let app = spawn_app().await;

    let first = post_with_key(&app, "/campaigns", "create-1", &campaign_body()).await;
    let first_location = first.headers()["location"].clone();
    let first = accepted(first, 201).await;
    // The same body with other spacing and key order is the same request.
    let mut reordered = String::from("{\n  ");
    let fields = campaign_body();
    let mut members: Vec<String> = fields
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, value)| format!("{key:?} :  {value}"))
        .collect();
    members.reverse();
    reordered.push_str(&members.join(",\n  "));
    reordered.push_str("\n}");
    assert_ne!(reordered, campaign_body().to_string());
    let retry = app
        .request(Method::POST, "/campaigns")
        .header("Idempotency-Key", "create-1")
        .header("content-type", "application/json")
        .body(reordered)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["location"], first_location);
    let retry = accepted(retry, 201).await;

    assert_eq!(retry, first);
    assert_eq!(app.count_events().await, 2, "the retry wrote nothing");
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_422() {
    let app = spawn_app().await;
    accepted(
        post_with_key(&app, "/partners", "k-1", &partner_body()).await,
        201,
    )
    .await;

    let mut other = partner_body();
    other["name"] = json!("Someone Else");
    assert_problem(
        post_with_key(&app, "/partners", "k-1", &other).await,
        422,
        "idempotency.key_reused",
    )
    .await;
    // Same body on another endpoint is another request too.
    let id = app.create_campaign().await;
    assert_problem(
        post_with_key(
            &app,
            &format!("/campaigns/{id}/participants"),
            "k-1",
            &participant("p-7"),
        )
        .await,
        422,
        "idempotency.key_reused",
    )
    .await;
    assert_eq!(app.count_events().await, 1 + 2);
}

#[tokio::test]
async fn a_failed_command_does_not_use_up_its_key() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    let path = format!("/campaigns/{id}/participants");
    let mut bad = participant("p-9");
    bad["kind"] = json!("nobody");
    assert_problem(
        post_with_key(&app, &path, "add-9", &bad).await,
        422,
        "participant.invalid_kind",
    )
    .await;
    // The key names no committed command, so a corrected request goes through.
    accepted(
        post_with_key(&app, &path, "add-9", &participant("p-9")).await,
        200,
    )
    .await;
}

#[tokio::test]
async fn concurrent_retries_with_one_key_commit_once() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    let path = format!("/campaigns/{id}/participants");

    let body = participant("p-5");
    let attempts = (0..10).map(|_| post_with_key(&app, &path, "add-once", &body));
    let responses = futures::future::join_all(attempts).await;

    let mut answers = Vec::new();
    for response in responses {
        answers.push(accepted(response, 200).await);
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "every retry got the same answer"
    );
    assert_eq!(app.stored_events(&id).await.len(), 3, "one ParticipantAdded");
}

#[tokio::test]
async fn concurrent_creations_with_one_key_create_one_campaign() {
    let app = spawn_app().await;
    let body = campaign_body();
    let attempts = (0..8).map(|_| post_with_key(&app, "/campaigns", "create-once", &body));
    let responses = futures::future::join_all(attempts).await;
    let mut ids = Vec::new();
    for response in responses {
        ids.push(accepted(response, 201).await["aggregate_id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.count_events().await, 2);
}
