//! Queries over the read models, after commands, with read-your-writes.

use crate::helpers::*;
use serde_json::{json, Value};
use uuid::Uuid;

#[tokio::test]
async fn a_campaign_is_readable_right_after_its_command_with_min_position() {
    let app = spawn_app().await;
    let created = app.create_campaign_with(&campaign_body()).await;
    let id = created["aggregate_id"].as_str().unwrap();
    let position = created["position"].as_i64().unwrap();

    let campaign = app
        .get_json(&format!("/campaigns/{id}?min_position={position}"))
        .await;

    assert_eq!(campaign["id"], id);
    assert_eq!(campaign["name"], "Test");
    assert_eq!(campaign["brand_id"], "12dqweqwqdsxq");
    assert_eq!(campaign["status"], "draft");
    assert_eq!(
        campaign["budget"],
        json!({"amount": "10000.00", "currency": "USD"})
    );
    assert_eq!(campaign["schedule"], Value::Null);
    assert_eq!(campaign["participants"][0]["partner_id"], "p-98765");
    assert_eq!(campaign["participants"][0]["kind"], "influencer");
    assert_eq!(campaign["version"], 2);
    assert_eq!(campaign["last_event_id"], created["event_ids"][1]);
    assert!(campaign["created_at"].is_string() && campaign["updated_at"].is_string());

    let activated = accepted(app.post(&format!("/campaigns/{id}/activate")).await, 200).await;
    let campaign = app
        .get_json(&format!("/campaigns/{id}?min_position={}", activated["position"]))
        .await;
    assert_eq!(campaign["status"], "active");
    assert_eq!(campaign["version"], 3);
}

#[tokio::test]
async fn the_event_stream_carries_the_ids_the_commands_answered() {
    let app = spawn_app().await;
    let created = app.create_campaign_with(&campaign_body()).await;
    let id = created["aggregate_id"].as_str().unwrap();
    let activated = accepted(app.post(&format!("/campaigns/{id}/activate")).await, 200).await;

    let stream = app.get_json(&format!("/campaigns/{id}/events")).await;

    let items = stream["items"].as_array().unwrap();
    let ids: Vec<&Value> = items.iter().map(|e| &e["event_id"]).collect();
    assert_eq!(
        ids,
        [
            &created["event_ids"][0],
            &created["event_ids"][1],
            &activated["event_ids"][0]
        ]
    );
    assert_eq!(items[2]["event_type"], "CampaignActivated");
    assert_eq!(items[2]["sequence"], 3);
    assert_eq!(items[2]["position"], activated["position"]);
    assert_eq!(items[0]["event_version"], "1.0");
    assert!(items[0]["payload"]["CampaignCreated"].is_object());
    assert_problem(
        app.get(&format!("/campaigns/{}/events", Uuid::new_v4())).await,
        404,
        "campaign.not_found",
    )
    .await;
}

#[tokio::test]
async fn campaigns_are_filtered_and_paginated() {
    let app = spawn_app().await;
    let mut brand_a = Vec::new();
    let mut last_position = 0;
    for i in 0..5 {
        let mut body = campaign_body();
        body["brand_id"] = json!("brand-a");
        body["name"] = json!(format!("A{i}"));
        let created = app.create_campaign_with(&body).await;
        brand_a.push(created["aggregate_id"].as_str().unwrap().to_owned());
        last_position = created["position"].as_i64().unwrap();
    }
    let mut other = campaign_body();
    other["brand_id"] = json!("brand-b");
    app.create_campaign_with(&other).await;
    let activated = accepted(
        app.post(&format!("/campaigns/{}/activate", brand_a[1])).await,
        200,
    )
    .await;
    last_position = last_position.max(activated["position"].as_i64().unwrap());

    // Pages of 2 over brand-a: 2 + 2 + 1, oldest first, nothing twice.
    let mut seen = Vec::new();
    let mut path = format!("/campaigns?brand_id=brand-a&limit=2&min_position={last_position}");
    loop {
        let page = app.get_json(&path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/campaigns?brand_id=brand-a&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, brand_a);

    let active = app.get_json("/campaigns?status=active").await;
    let active: Vec<&str> = active["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(active, [brand_a[1].as_str()]);
    let all = app.get_json("/campaigns").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    assert_eq!(all["next_cursor"], Value::Null);
}

#[tokio::test]
async fn bad_query_parameters_are_400_problems() {
    let app = spawn_app().await;
    for (path, code) in [
        ("/campaigns?status=running", "query.invalid_filter"),
        ("/campaigns?limit=0", "query.invalid_limit"),
        ("/campaigns?limit=101", "query.invalid_limit"),
        ("/campaigns?limit=ten", "query.invalid_parameter"),
        ("/campaigns?cursor=abc", "query.invalid_cursor"),
        ("/campaigns?brand=x", "query.invalid_parameter"),
        ("/campaigns?min_position=-1", "query.invalid_min_position"),
        ("/campaigns?min_position=1000", "query.invalid_min_position"),
        ("/partners?kind=robot", "query.invalid_filter"),
        ("/partners?status=gone", "query.invalid_filter"),
        (
            "/partners/00000000-0000-0000-0000-000000000000?min_position=x",
            "query.invalid_parameter",
        ),
    ] {
        assert_problem(app.get(path).await, 400, code).await;
    }
    assert_problem(
        app.get(&format!("/campaigns/{}", Uuid::new_v4())).await,
        404,
        "campaign.not_found",
    )
    .await;
    assert_problem(
        app.get(&format!("/partners/{}", Uuid::new_v4())).await,
        404,
        "partner.not_found",
    )
    .await;
    assert_problem(app.get("/partners/nope").await, 404, "partner.not_found").await;
}

#[tokio::test]
async fn partners_are_filtered_by_kind_status_and_name() {
    let app = spawn_app().await;
    let mut last_position = 0;
    let mut ids = Vec::new();
    for (name, kind) in [
        ("Alice Doe", "influencer"),
        ("Blog Moda Trends", "affiliate"),
        ("ALICIA 50% Off", "Affiliate"),
    ] {
        let body = json!({"name": name, "kind": kind, "profile": ""});
        let registered = accepted(app.post_json("/partners", &body).await, 201).await;
        ids.push(registered["aggregate_id"].as_str().unwrap().to_owned());
        last_position = registered["position"].as_i64().unwrap();
    }
    let suspended = accepted(
        app.post_json(
            &format!("/partners/{}/suspend", ids[1]),
            &json!({"reason": "review"}),
        )
        .await,
        200,
    )
    .await;
    last_position = last_position.max(suspended["position"].as_i64().unwrap());

    let names = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(
            app.get_json(&format!("/partners?q=ali&min_position={last_position}"))
                .await
        ),
        ["Alice Doe", "ALICIA 50% Off"]
    );
    assert_eq!(names(app.get_json("/partners?q=50%25").await), ["ALICIA 50% Off"]);
    assert_eq!(names(app.get_json("/partners?q=_").await), Vec::<String>::new());
    assert_eq!(
        names(app.get_json("/partners?kind=AFFILIATE").await),
        ["Blog Moda Trends", "ALICIA 50% Off"]
    );
    assert_eq!(
        names(app.get_json("/partners?status=suspended").await),
        ["Blog Moda Trends"]
    );
    let page = app.get_json("/partners?limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["items"][0].get("campaigns").is_none());
    let rest = app
        .get_json(&format!(
            "/partners?limit=2&cursor={}",
            page["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(names(rest), ["ALICIA 50% Off"]);
}

#[tokio::test]
async fn a_partner_lists_the_campaigns_it_takes_part_in() {
    let app = spawn_app().await;
    let partner = app.register_partner().await;
    let mut body = campaign_body();
    body["participants"] = json!([participant(&partner)]);
    let first = app.create_campaign_with(&body).await;
    let first_id = first["aggregate_id"].as_str().unwrap();
    let second = app.create_campaign_with(&body).await;
    let activated = accepted(app.post(&format!("/campaigns/{first_id}/activate")).await, 200).await;
    let removed = accepted(
        app.delete(&format!(
            "/campaigns/{}/participants/{partner}",
            second["aggregate_id"].as_str().unwrap()
        ))
        .await,
        200,
    )
    .await;
    let position = activated["position"]
        .as_i64()
        .unwrap()
        .max(removed["position"].as_i64().unwrap());

    let view = app
        .get_json(&format!("/partners/{partner}?min_position={position}"))
        .await;

    assert_eq!(view["id"], partner.as_str());
    assert_eq!(view["kind"], "influencer");
    assert_eq!(view["status"], "active");
    assert_eq!(
        view["campaigns"],
        json!([{"id": first_id, "name": "Test", "status": "active"}])
    );
}

#[tokio::test]
async fn min_position_not_reached_in_time_is_a_503_naming_the_view_on_postgres() {
    // Postgres: a test transaction can hold the projector's checkpoint row while
    // commands still commit (on SQLite, one writer: holding it would stop commands too).
    let app = spawn_app_on(store::Backend::Postgres, |settings| {
        settings.consistency_timeout = std::time::Duration::from_millis(300)
    })
    .await;
    let id = app.create_campaign().await;
    app.wait_for_projection("campaigns", |s| s["lag"] == 0).await;
    // Hold the projector's checkpoint row: it cannot apply the next batch.
    let mut blocker = app.pg().begin().await.unwrap();
    sqlx::query("SELECT 1 FROM projector_checkpoints WHERE name = 'campaigns' FOR UPDATE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let activated = accepted(app.post(&format!("/campaigns/{id}/activate")).await, 200).await;

    let response = app
        .get(&format!("/campaigns/{id}?min_position={}", activated["position"]))
        .await;

    assert_eq!(
        response.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("1"),
        "{response:?}"
    );
    let problem = assert_problem(response, 503, "query.not_caught_up").await;
    assert_eq!(problem["projection"], "campaigns");
    assert!(problem["checkpoint"].as_i64().unwrap() < activated["position"].as_i64().unwrap());
    blocker.rollback().await.unwrap();
    let campaign = app
        .get_json(&format!("/campaigns/{id}?min_position={}", activated["position"]))
        .await;
    assert_eq!(campaign["status"], "active");
}

#[tokio::test]
async fn a_search_text_longer_than_any_name_is_a_400_on_every_backend() {
    let app = spawn_app().await;
    // SQLite would refuse a LIKE pattern over 50,000 bytes with an error (a 500).
    let long = "a".repeat(50_001);

    let response = app.get(&format!("/partners?q={long}")).await;

    let problem = assert_problem(response, 400, "query.invalid_parameter").await;
    assert_eq!(problem["field"], "q");
    let at_limit = "a".repeat(200);
    app.get_json(&format!("/partners?q={at_limit}")).await;
}
