//! Campaign commands over HTTP.

use crate::helpers::*;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn creating_a_campaign_answers_201_with_the_ids_of_the_committed_events() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.post_json("/campaigns", &campaign_body()).await;

    // Assert
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body = accepted(response, 201).await;
    let id = body["aggregate_id"].as_str().unwrap();
    assert_eq!(location, format!("/campaigns/{id}"));
    assert!(Uuid::parse_str(id).is_ok());
    // CampaignCreated, then one ParticipantAdded.
    assert_eq!(body["version"], 2);
    assert_eq!(etag, "\"2\"");
    let stored = app.stored_events(id).await;
    let types: Vec<_> = stored.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(types, ["CampaignCreated", "ParticipantAdded"]);
    let stored_ids: Vec<Value> = stored.iter().map(|e| json!(e.2)).collect();
    assert_eq!(body["event_ids"], json!(stored_ids));
    assert_eq!(body["position"], stored[1].3);
    // The amount was sent as a JSON number and is stored as an exact decimal string.
    assert_eq!(
        stored[0].4["CampaignCreated"]["budget"],
        json!({"amount": "10000.00", "currency": "USD"})
    );
    // The kind was sent as "Influencer" and is stored lowercase.
    assert_eq!(stored[1].4["ParticipantAdded"]["kind"], "influencer");
}

#[tokio::test]
async fn a_campaign_goes_through_its_whole_lifecycle() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    let mut all_event_ids = Vec::new();

    for (action, version) in [
        ("activate", 3),
        ("pause", 4),
        ("resume", 5),
        ("pause", 6),
        ("complete", 7),
    ] {
        let body = accepted(app.post(&format!("/campaigns/{id}/{action}")).await, 200).await;
        assert_eq!(body["version"], version, "after {action}");
        assert_eq!(body["event_ids"].as_array().unwrap().len(), 1);
        all_event_ids.push(body["event_ids"][0].clone());
    }

    let types: Vec<_> = app.stored_events(&id).await.into_iter().map(|e| e.1).collect();
    assert_eq!(
        types,
        [
            "CampaignCreated",
            "ParticipantAdded",
            "CampaignActivated",
            "CampaignPaused",
            "CampaignResumed",
            "CampaignPaused",
            "CampaignCompleted"
        ]
    );
    all_event_ids.dedup();
    assert_eq!(all_event_ids.len(), 5, "every command committed a distinct event");
    // Completed is terminal.
    assert_problem(
        app.post(&format!("/campaigns/{id}/resume")).await,
        422,
        "campaign.closed",
    )
    .await;
}

#[tokio::test]
async fn positions_grow_across_aggregates() {
    let app = spawn_app().await;
    let first = accepted(app.post_json("/campaigns", &campaign_body()).await, 201).await;
    let second = accepted(app.post_json("/campaigns", &campaign_body()).await, 201).await;
    assert!(second["position"].as_i64() > first["position"].as_i64());
}

#[tokio::test]
async fn participants_are_added_and_removed() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;

    let added = accepted(
        app.post_json(&format!("/campaigns/{id}/participants"), &participant("p-2"))
            .await,
        200,
    )
    .await;
    assert_eq!(added["version"], 3);
    assert_problem(
        app.post_json(&format!("/campaigns/{id}/participants"), &participant("p-2"))
            .await,
        422,
        "campaign.duplicate_participant",
    )
    .await;

    let removed = accepted(
        app.delete(&format!("/campaigns/{id}/participants/p-2")).await,
        200,
    )
    .await;
    assert_eq!(removed["version"], 4);
    assert_problem(
        app.delete(&format!("/campaigns/{id}/participants/p-2")).await,
        404,
        "campaign.participant_not_found",
    )
    .await;
    let last = app.stored_events(&id).await.pop().unwrap();
    assert_eq!(last.1, "ParticipantRemoved");
    assert_eq!(last.4["ParticipantRemoved"]["partner_id"], "p-2");
}

#[tokio::test]
async fn invalid_participant_fields_are_named() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    let mut bad = participant("p-3");
    bad["kind"] = json!("celebrity");
    let problem = assert_problem(
        app.post_json(&format!("/campaigns/{id}/participants"), &bad)
            .await,
        422,
        "participant.invalid_kind",
    )
    .await;
    assert_eq!(problem["field"], "kind");

    let mut body = campaign_body();
    body["participants"] = json!([participant("a"), { "partner_id": "b", "kind": "affiliate", "name": "" }]);
    let problem = assert_problem(
        app.post_json("/campaigns", &body).await,
        422,
        "participant.invalid_name",
    )
    .await;
    assert_eq!(problem["field"], "participants[1].name");
}

#[tokio::test]
async fn the_budget_and_schedule_change() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;

    accepted(
        app.put_json(
            &format!("/campaigns/{id}/budget"),
            &json!({"amount": "2500.5", "currency": "eur"}),
        )
        .await,
        200,
    )
    .await;
    let schedule = json!({"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z"});
    accepted(
        app.put_json(&format!("/campaigns/{id}/schedule"), &schedule)
            .await,
        200,
    )
    .await;

    let events = app.stored_events(&id).await;
    assert_eq!(
        events[2].4["BudgetChanged"]["budget"],
        json!({"amount": "2500.50", "currency": "EUR"})
    );
    assert_eq!(events[3].1, "CampaignRescheduled");
}

#[tokio::test]
async fn budget_rules_are_422_problems_naming_the_field() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    for (budget, code, field) in [
        (
            json!({"amount": "10.001", "currency": "USD"}),
            "money.too_many_decimals",
            "budget.amount",
        ),
        (
            json!({"amount": "0", "currency": "USD"}),
            "money.non_positive_amount",
            "budget.amount",
        ),
        (
            json!({"amount": "ten", "currency": "USD"}),
            "money.invalid_amount",
            "budget.amount",
        ),
        (
            json!({"amount": "10", "currency": "XYZ"}),
            "money.unknown_currency",
            "budget.currency",
        ),
        (
            json!({"amount": 5.5, "currency": "JPY"}),
            "money.too_many_decimals",
            "budget.amount",
        ),
    ] {
        let problem = assert_problem(
            app.put_json(&format!("/campaigns/{id}/budget"), &budget).await,
            422,
            code,
        )
        .await;
        assert_eq!(problem["field"], field, "{budget}");
    }
    assert_eq!(app.stored_events(&id).await.len(), 2, "nothing was written");
}

#[tokio::test]
async fn a_schedule_must_end_after_it_starts() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    let backwards = json!({"starts_at": "2027-01-01T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"});
    assert_problem(
        app.put_json(&format!("/campaigns/{id}/schedule"), &backwards)
            .await,
        422,
        "campaign.invalid_schedule",
    )
    .await;
    let mut half = campaign_body();
    half["starts_at"] = json!("2026-12-01T00:00:00Z");
    assert_problem(
        app.post_json("/campaigns", &half).await,
        422,
        "campaign.incomplete_schedule",
    )
    .await;
}

#[tokio::test]
async fn status_transitions_follow_the_state_machine() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    // draft: cannot pause, resume or complete
    for action in ["pause", "resume", "complete"] {
        assert_problem(
            app.post(&format!("/campaigns/{id}/{action}")).await,
            422,
            "campaign.invalid_transition",
        )
        .await;
    }
    accepted(app.post(&format!("/campaigns/{id}/activate")).await, 200).await;
    assert_problem(
        app.post(&format!("/campaigns/{id}/activate")).await,
        422,
        "campaign.invalid_transition",
    )
    .await;
    assert_problem(
        app.post(&format!("/campaigns/{id}/resume")).await,
        422,
        "campaign.invalid_transition",
    )
    .await;
    // the last participant of an active campaign stays
    assert_problem(
        app.delete(&format!("/campaigns/{id}/participants/p-98765")).await,
        422,
        "campaign.last_participant",
    )
    .await;
}

#[tokio::test]
async fn activation_needs_a_participant() {
    let app = spawn_app().await;
    let mut body = campaign_body();
    body["participants"] = json!([]);
    let id = accepted(app.post_json("/campaigns", &body).await, 201).await["aggregate_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        app.post(&format!("/campaigns/{id}/activate")).await,
        422,
        "campaign.no_participants",
    )
    .await;
}

#[tokio::test]
async fn a_cancelled_campaign_accepts_no_command() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;
    assert_problem(
        app.post_json(&format!("/campaigns/{id}/cancel"), &json!({"reason": "  "}))
            .await,
        422,
        "campaign.invalid_reason",
    )
    .await;
    let body = accepted(
        app.post_json(
            &format!("/campaigns/{id}/cancel"),
            &json!({"reason": "brand withdrew"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["version"], 3);
    assert_problem(
        app.post_json(&format!("/campaigns/{id}/participants"), &participant("x"))
            .await,
        422,
        "campaign.closed",
    )
    .await;
    assert_problem(
        app.post_json(&format!("/campaigns/{id}/cancel"), &json!({"reason": "again"}))
            .await,
        422,
        "campaign.closed",
    )
    .await;
}

#[tokio::test]
async fn unknown_campaigns_are_404() {
    let app = spawn_app().await;
    let unknown = Uuid::new_v4();
    assert_problem(
        app.post(&format!("/campaigns/{unknown}/activate")).await,
        404,
        "campaign.not_found",
    )
    .await;
    assert_problem(
        app.post("/campaigns/not-a-uuid/activate").await,
        404,
        "campaign.not_found",
    )
    .await;
    assert_problem(
        app.put_json(
            &format!("/campaigns/{unknown}/budget"),
            &json!({"amount": "1", "currency": "USD"}),
        )
        .await,
        404,
        "campaign.not_found",
    )
    .await;
    assert_eq!(app.count_events().await, 0);
}

#[tokio::test]
async fn if_match_guards_against_lost_updates() {
    let app = spawn_app().await;
    let id = app.create_campaign().await;

    let stale = app
        .request(reqwest::Method::POST, &format!("/campaigns/{id}/activate"))
        .header("If-Match", "\"1\"");
    let problem = assert_problem(stale.send().await.unwrap(), 409, "concurrency.version_mismatch").await;
    assert_eq!(problem["field"], "if-match");

    let current = app
        .request(reqwest::Method::POST, &format!("/campaigns/{id}/activate"))
        .header("If-Match", "\"2\"");
    let body = accepted(current.send().await.unwrap(), 200).await;
    assert_eq!(body["version"], 3);
    assert_eq!(app.stored_events(&id).await.len(), 3);
}
