//! Partner commands over HTTP.

use crate::helpers::*;
use serde_json::json;
use uuid::Uuid;

#[tokio::test]
async fn registering_a_partner_answers_201_with_its_event() {
    let app = spawn_app().await;
    let mut body = partner_body();
    body["email"] = json!("Alice@Example.COM");

    let response = app.post_json("/partners", &body).await;

    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body = accepted(response, 201).await;
    let id = body["aggregate_id"].as_str().unwrap();
    assert_eq!(location, format!("/partners/{id}"));
    assert_eq!(body["version"], 1);
    let stored = app.stored_events(id).await;
    assert_eq!(stored[0].1, "PartnerRegistered");
    assert_eq!(json!(stored[0].2), body["event_ids"][0]);
    assert_eq!(stored[0].4["PartnerRegistered"]["kind"], "influencer");
}

#[tokio::test]
async fn a_partner_is_suspended_reinstated_and_deactivated() {
    let app = spawn_app().await;
    let id = app.register_partner().await;

    accepted(
        app.post_json(
            &format!("/partners/{id}/suspend"),
            &json!({"reason": "fraud review"}),
        )
        .await,
        200,
    )
    .await;
    assert_problem(
        app.post_json(&format!("/partners/{id}/suspend"), &json!({"reason": "again"}))
            .await,
        422,
        "partner.invalid_transition",
    )
    .await;
    accepted(app.post(&format!("/partners/{id}/reinstate")).await, 200).await;
    assert_problem(
        app.post(&format!("/partners/{id}/reinstate")).await,
        422,
        "partner.invalid_transition",
    )
    .await;
    let body = accepted(app.post(&format!("/partners/{id}/deactivate")).await, 200).await;
    assert_eq!(body["version"], 4);
    assert_problem(
        app.put_json(&format!("/partners/{id}/profile"), &partner_body())
            .await,
        422,
        "partner.deactivated",
    )
    .await;
}

#[tokio::test]
async fn the_profile_is_replaced() {
    let app = spawn_app().await;
    let id = app.register_partner().await;
    let update = json!({"name": "Blog Moda Trends", "kind": "AFFILIATE", "profile": "50k visits", "email": "blog@moda.co"});
    accepted(
        app.put_json(&format!("/partners/{id}/profile"), &update).await,
        200,
    )
    .await;
    let last = app.stored_events(&id).await.pop().unwrap();
    assert_eq!(last.1, "PartnerProfileUpdated");
    assert_eq!(last.4["PartnerProfileUpdated"]["kind"], "affiliate");
}

#[tokio::test]
async fn partner_rules_are_422_problems() {
    let app = spawn_app().await;
    for (patch, code, field) in [
        (json!({"email": "not-an-email"}), "partner.invalid_email", "email"),
        (json!({"kind": "robot"}), "partner.invalid_kind", "kind"),
        (json!({"name": ""}), "partner.invalid_name", "name"),
        (
            json!({"profile": "x".repeat(1001)}),
            "partner.invalid_profile",
            "profile",
        ),
    ] {
        let mut body = partner_body();
        for (key, value) in patch.as_object().unwrap() {
            body[key] = value.clone();
        }
        let problem = assert_problem(app.post_json("/partners", &body).await, 422, code).await;
        assert_eq!(problem["field"], field);
    }
    let id = app.register_partner().await;
    assert_problem(
        app.post_json(&format!("/partners/{id}/suspend"), &json!({"reason": ""}))
            .await,
        422,
        "partner.invalid_reason",
    )
    .await;
    assert_eq!(app.count_events().await, 1);
}

#[tokio::test]
async fn unknown_partners_are_404() {
    let app = spawn_app().await;
    let unknown = Uuid::new_v4();
    assert_problem(
        app.post(&format!("/partners/{unknown}/deactivate")).await,
        404,
        "partner.not_found",
    )
    .await;
    assert_problem(
        app.put_json(&format!("/partners/{unknown}/profile"), &partner_body())
            .await,
        404,
        "partner.not_found",
    )
    .await;
    assert_problem(app.post("/partners/12/reinstate").await, 404, "partner.not_found").await;
}
