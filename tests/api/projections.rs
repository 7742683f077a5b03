//! Projectors: commit order, exactly-once across crashes, rebuilds, poison events,
//! standby take-over. Tests named `…_on_postgres` check what only Postgres has
//! (transactions committing out of position order, leadership between processes,
//! jsonb's refusals) and always run there.

use crate::helpers::*;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Everything the read models show, in a stable order, to compare two builds of
/// them: every campaign and partner as the query API returns them, with the
/// partners' campaign lists (from `partner_campaigns`).
async fn read_models(app: &TestApp) -> Vec<Value> {
    let mut rows = Vec::new();
    for list in ["/campaigns?limit=100", "/partners?limit=100"] {
        let page = app.get_json(list).await;
        for item in page["items"].as_array().unwrap() {
            let path = if list.starts_with("/campaigns") {
                "campaigns"
            } else {
                "partners"
            };
            rows.push(
                app.get_json(&format!("/{path}/{}", item["id"].as_str().unwrap()))
                    .await,
            );
        }
    }
    rows
}

/// The identities of the live read-model tables (a swap replaces them).
async fn table_oids(db: &PgPool) -> Vec<i64> {
    let mut oids = Vec::new();
    for table in ["campaign_view", "partner_campaigns", "partner_view"] {
        oids.push(
            sqlx::query_scalar(&format!("SELECT '{table}'::regclass::oid::bigint"))
                .fetch_one(db)
                .await
                .unwrap(),
        );
    }
    oids
}

/// Rebuilds one view over HTTP and waits until it is swapped in and caught up.
async fn rebuild(app: &TestApp, name: &str) {
    let response = app.post(&format!("/admin/projections/{name}/rebuild")).await;
    assert_eq!(response.status(), 202, "{name}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let still = app
            .scalar(
                "SELECT count(*) FROM projector_checkpoints WHERE name = $1 AND rebuild_started_at IS NOT NULL",
                name,
            )
            .await;
        if still == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rebuild of {name} never finished"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let status = app.wait_for_projection(name, |s| s["lag"] == 0).await;
    assert!(status["last_error"].is_null(), "rebuild of {name}: {status}");
}

/// A bit of everything, so the views have something to show.
async fn some_history(app: &TestApp) -> i64 {
    let partner = app.register_partner().await;
    let mut position = 0;
    for i in 0..4 {
        let mut body = campaign_body();
        body["participants"] = json!([participant(&partner), participant(&format!("p-{i}"))]);
        let id = app.create_campaign_with(&body).await["aggregate_id"]
            .as_str()
            .unwrap()
            .to_owned();
        accepted(app.post(&format!("/campaigns/{id}/activate")).await, 200).await;
        if i % 2 == 0 {
            accepted(app.post(&format!("/campaigns/{id}/pause")).await, 200).await;
        }
        let last = accepted(
            app.delete(&format!("/campaigns/{id}/participants/p-{i}")).await,
            200,
        )
        .await;
        position = last["position"].as_i64().unwrap();
    }
    let suspended = accepted(
        app.post_json(&format!("/partners/{partner}/suspend"), &json!({"reason": "r"}))
            .await,
        200,
    )
    .await;
    position.max(suspended["position"].as_i64().unwrap())
}

#[tokio::test]
async fn the_status_shows_both_projectors_caught_up() {
    let app = spawn_app().await;
    let position = some_history(&app).await;
    let status = app
        .wait_for_projection("campaigns", |s| s["lag"] == 0 && s["checkpoint"] != 0)
        .await;
    assert_eq!(status["state"], "running");
    assert_eq!(status["head"], app.count_events().await);
    assert!(status["checkpoint"].as_i64().unwrap() >= position - 1);
    let partners = app.wait_for_projection("partners", |s| s["lag"] == 0).await;
    assert_eq!(partners["state"], "running");
    assert_eq!(partners["events_applied"], app.count_events().await);
}

/// An event appended raw on Postgres, in a transaction the test controls.
async fn append_raw(tx: &mut sqlx::PgConnection, aggregate_id: &str, payload: Value) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Campaign', $1, 1, 'CampaignCreated', '1.0', $2::json, '{}') RETURNING position",
    )
    .bind(aggregate_id)
    .bind(payload.to_string())
    .fetch_one(tx)
    .await
    .unwrap()
}

fn created_payload(name: &str) -> Value {
    json!({"CampaignCreated": {"name": name, "brand_id": "b", "budget": {"amount": "1.00", "currency": "USD"}, "schedule": null}})
}

#[tokio::test]
async fn an_event_committed_late_is_not_skipped_on_postgres() {
    let app = spawn_postgres_app().await;
    app.wait_for_projection("campaigns", |s| s["state"] == "running")
        .await;
    // A transaction appends an event (position P) and stays open...
    let early = Uuid::now_v7().to_string();
    let mut open = app.pg().begin().await.unwrap();
    let early_position = append_raw(&mut open, &early, created_payload("early")).await;
    // ...while a later command commits an event at a higher position.
    let late = app.create_campaign_with(&campaign_body()).await;
    assert!(late["position"].as_i64().unwrap() > early_position);

    // The projector must wait for the open transaction rather than move past it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = app.projection("campaigns").await;
    assert_eq!(
        status["checkpoint"], 0,
        "the projector moved past an uncommitted event: {status}"
    );
    assert_problem(
        app.get(&format!("/campaigns/{early}")).await,
        404,
        "campaign.not_found",
    )
    .await;

    open.commit().await.unwrap();

    let late_id = late["aggregate_id"].as_str().unwrap();
    let both = app
        .get_json(&format!("/campaigns/{late_id}?min_position={}", late["position"]))
        .await;
    assert_eq!(both["name"], "Test");
    let early_view = app
        .get_json(&format!("/campaigns/{early}?min_position={early_position}"))
        .await;
    assert_eq!(early_view["name"], "early");
    let status = app.wait_for_projection("campaigns", |s| s["lag"] == 0).await;
    assert_eq!(
        status["events_applied"],
        app.count_events().await,
        "each event applied once"
    );
}

#[tokio::test]
async fn after_a_crash_projectors_resume_from_their_checkpoint_without_applying_twice() {
    let app = spawn_app().await;
    let position = some_history(&app).await;
    app.get_json(&format!("/partners?min_position={position}")).await;
    app.instance().kill();
    expire_leases_of_the_killed(&app).await;

    // A new process takes over: its projectors start from the stored checkpoints and
    // apply only what came after (here, one more command).
    let second = start_on(&app.database_url).await;
    let client = crate::helpers::client_as(&crate::helpers::test_admin());
    let created: Value = client
        .post(format!("{}/campaigns", second.address))
        .json(&campaign_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["aggregate_id"]
        .as_str()
        .unwrap_or_else(|| panic!("the new process created nothing: {created}"));
    let view: Value = client
        .get(format!(
            "{}/campaigns/{id}?min_position={}",
            second.address, created["position"]
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["version"], 2);
    // The partners projector too must have reached the last event before its count
    // is read (the campaign read above waited for the campaigns view only).
    let partners = client
        .get(format!(
            "{}/partners?min_position={}",
            second.address, created["position"]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(partners.status(), 200);

    let total = app.count_events().await;
    for name in ["campaigns", "partners"] {
        let applied = app
            .scalar(
                "SELECT events_applied FROM projector_checkpoints WHERE name = $1",
                name,
            )
            .await;
        assert_eq!(applied, total, "{name}: every event applied exactly once");
    }
    let versions = app
        .scalar(
            "SELECT CAST(sum(version) AS bigint) FROM campaign_view WHERE id <> $1",
            "",
        )
        .await;
    let campaign_events = app
        .scalar(
            "SELECT count(*) FROM events WHERE aggregate_type = $1",
            "Campaign",
        )
        .await;
    assert_eq!(versions, campaign_events);
    second.kill();
}

#[tokio::test]
async fn a_rebuilt_view_equals_the_incrementally_built_one() {
    let app = spawn_app().await;
    some_history(&app).await;
    for name in ["campaigns", "partners"] {
        app.wait_for_projection(name, |s| s["lag"] == 0).await;
    }
    let incremental = read_models(&app).await;
    assert!(!incremental.is_empty());
    let live_tables = match app.db.as_postgres() {
        Some(pool) => Some(table_oids(pool).await),
        None => None,
    };

    for name in ["campaigns", "partners"] {
        rebuild(&app, name).await;
    }
    if let (Some(pool), Some(live_tables)) = (app.db.as_postgres(), live_tables) {
        // The swap replaced the live tables and dropped the shadows.
        let shadows: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%__rebuild'")
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(shadows, 0);
        let swapped = table_oids(pool).await;
        assert!(
            live_tables
                .iter()
                .zip(&swapped)
                .all(|(before, after)| before != after),
            "the tables were swapped"
        );
    }
    assert_eq!(read_models(&app).await, incremental);

    // The view keeps following the log after the swap.
    let created = app.create_campaign_with(&campaign_body()).await;
    let id = created["aggregate_id"].as_str().unwrap();
    app.get_json(&format!("/campaigns/{id}?min_position={}", created["position"]))
        .await;
    assert_problem(
        app.post("/admin/projections/nope/rebuild").await,
        404,
        "projection.not_found",
    )
    .await;
}

#[tokio::test]
async fn a_poisoned_event_stops_the_projector_visibly_until_an_operator_skips_it() {
    let app = spawn_app().await;
    assert_problem(
        app.post("/admin/projections/campaigns/skip").await,
        409,
        "projection.not_failed",
    )
    .await;
    let poison = Uuid::now_v7().to_string();
    let poison_position = app
        .append_raw(
            &poison,
            1,
            "CampaignCreated",
            "1.0",
            &json!({"CampaignCreated": {"nonsense": true}}),
        )
        .await;
    let after = app.create_campaign_with(&campaign_body()).await;

    let failed = app
        .wait_for_projection("campaigns", |s| s["state"] == "failed")
        .await;
    assert_eq!(failed["failed_position"], poison_position);
    assert!(failed["failed_event_id"].is_string());
    assert!(
        failed["last_error"].as_str().unwrap().contains("CampaignCreated"),
        "{failed}"
    );
    // It stopped at the poison event: the later campaign is not visible.
    let id = after["aggregate_id"].as_str().unwrap();
    assert_problem(
        app.get(&format!("/campaigns/{id}")).await,
        404,
        "campaign.not_found",
    )
    .await;
    // The other projector is not affected.
    app.wait_for_projection("partners", |s| s["state"] == "running")
        .await;

    // Retrying fails again (the event is still bad)...
    let retried = app.post("/admin/projections/campaigns/retry").await;
    assert_eq!(retried.status(), 200);
    app.wait_for_projection("campaigns", |s| s["state"] == "failed")
        .await;
    // ...skipping moves on.
    let skipped: Value = app
        .post("/admin/projections/campaigns/skip")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(skipped["action"], "skipped");
    let view = app
        .get_json(&format!("/campaigns/{id}?min_position={}", after["position"]))
        .await;
    assert_eq!(view["id"], id);
    let recorded = match app.db.backend() {
        store::Backend::Postgres => {
            "SELECT cardinality(skipped_event_ids)::bigint FROM projector_checkpoints WHERE name = $1"
        }
        store::Backend::Sqlite => {
            "SELECT json_array_length(skipped_event_ids) FROM projector_checkpoints WHERE name = $1"
        }
    };
    assert_eq!(app.scalar(recorded, "campaigns").await, 1);
}

#[tokio::test]
async fn a_standby_takes_over_when_the_leader_dies_on_postgres() {
    let app = spawn_postgres_app().await;
    app.wait_for_projection("campaigns", |s| s["state"] == "running")
        .await;
    let standby = start_on(&app.database_url).await;
    let client = crate::helpers::client_as(&crate::helpers::test_admin());
    let standby_status = |name: &'static str| {
        let client = client.clone();
        let url = format!("{}/projections", standby.address);
        async move {
            let statuses: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            statuses
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .unwrap()["state"]
                .clone()
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while standby_status("campaigns").await != "standby" {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    app.instance().kill();

    let created: Value = client
        .post(format!("{}/campaigns", standby.address))
        .json(&campaign_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["aggregate_id"].as_str().unwrap();
    let response = client
        .get(format!(
            "{}/campaigns/{id}?min_position={}",
            standby.address, created["position"]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the standby took over and applied the new event"
    );
    assert_eq!(standby_status("campaigns").await, "running");
    standby.kill();
}

#[tokio::test]
async fn an_event_the_database_refuses_poisons_the_projector_at_that_event_only_on_postgres() {
    let app = spawn_postgres_app().await;
    app.wait_for_projection("campaigns", |s| s["state"] == "running")
        .await;
    // One transaction, two events: a good one, then one whose name no jsonb column
    // can hold (the events table's json column keeps it as text).
    let (good, bad) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let mut tx = app.pg().begin().await.unwrap();
    append_raw(&mut tx, &good, created_payload("good")).await;
    let bad_position = append_raw(&mut tx, &bad, created_payload("bad\u{0}name")).await;
    tx.commit().await.unwrap();

    let failed = app
        .wait_for_projection("campaigns", |s| s["state"] == "failed")
        .await;

    assert_eq!(failed["failed_position"], bad_position);
    assert!(
        failed["last_error"].as_str().unwrap().contains("refused"),
        "{failed}"
    );
    app.get_json(&format!("/campaigns/{good}")).await;
    assert_problem(
        app.get(&format!("/campaigns/{bad}")).await,
        404,
        "campaign.not_found",
    )
    .await;
    // The stream still reads (the payload is returned as stored).
    app.get_json(&format!("/campaigns/{bad}/events")).await;
    // Skipped, it stays skipped in a rebuilt view.
    let skipped = app.post("/admin/projections/campaigns/skip").await;
    assert_eq!(skipped.status(), 200);
    app.wait_for_projection("campaigns", |s| s["state"] == "running" && s["lag"] == 0)
        .await;
    let before = read_models(&app).await;
    rebuild(&app, "campaigns").await;
    assert_eq!(read_models(&app).await, before);
}

#[tokio::test]
async fn a_rebuild_under_concurrent_writes_loses_and_doubles_nothing() {
    let app = spawn_app().await;
    some_history(&app).await;
    let writes = async {
        let mut last = 0;
        for _ in 0..30 {
            last = app.create_campaign_with(&campaign_body()).await["position"]
                .as_i64()
                .unwrap();
        }
        last
    };
    let (last, ()) = tokio::join!(writes, rebuild(&app, "campaigns"));
    app.get_json(&format!("/campaigns?min_position={last}")).await;
    app.wait_for_projection("campaigns", |s| s["lag"] == 0).await;
    let during = read_models(&app).await;

    // A second rebuild, with nothing happening, builds the same rows.
    rebuild(&app, "campaigns").await;
    assert_eq!(read_models(&app).await, during);
    let campaigns = app
        .scalar("SELECT count(*) FROM campaign_view WHERE id <> $1", "")
        .await;
    assert_eq!(campaigns, 4 + 30);
}

#[tokio::test]
async fn events_stored_in_an_old_version_are_upcast_for_commands_and_views() {
    let app = spawn_app().await;
    // A campaign whose participant was stored as ParticipantAdded 1.0 (nested shape).
    let id = Uuid::now_v7().to_string();
    app.append_raw(&id, 1, "CampaignCreated", "1.0", &created_payload("old"))
        .await;
    let v1 = json!({"ParticipantAdded": {"participant":
        {"partner_id": "p-old", "kind": "affiliate", "name": "Old Partner", "profile": ""}}});
    app.append_raw(&id, 2, "ParticipantAdded", "1.0", &v1).await;

    // The aggregate reads it (activation needs the participant)...
    let activated = accepted(app.post(&format!("/campaigns/{id}/activate")).await, 200).await;
    assert_eq!(activated["version"], 3);
    // ...so do the views...
    let view = app
        .get_json(&format!("/campaigns/{id}?min_position={}", activated["position"]))
        .await;
    assert_eq!(view["participants"][0]["partner_id"], "p-old");
    assert_eq!(view["status"], "active");
    // ...and new events are written in the current version.
    let added = accepted(
        app.post_json(&format!("/campaigns/{id}/participants"), &participant("p-new"))
            .await,
        200,
    )
    .await;
    let stream = app
        .get_json(&format!(
            "/campaigns/{id}/events?min_position={}",
            added["position"]
        ))
        .await;
    let versions: Vec<&str> = stream["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.0", "1.0", "1.0", "2.0"]);
}

/// Appends `count` campaign creations straight to the log in one statement (a long
/// log to rebuild, made fast).
async fn append_many_campaigns(app: &TestApp, count: i64) {
    let payload = created_payload("bulk").to_string();
    match app.db.as_postgres() {
        Some(pool) => {
            sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 SELECT 'Campaign', 'bulk-' || n, 1, 'CampaignCreated', '1.0', $1::json, '{}'
                 FROM generate_series(1, $2) AS n",
            )
            .bind(&payload)
            .bind(count)
            .execute(pool)
            .await
            .unwrap();
        }
        None => {
            let db = app.db.as_sqlite().unwrap();
            let mut write = db.begin_write().await.unwrap();
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
                 INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                     payload, metadata, event_id, recorded_at)
                 SELECT 'Campaign', 'bulk-' || i, 1, 'CampaignCreated', '1.0', $1, '{}',
                        printf('00000000-0000-7000-8000-%012d', i), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 FROM n",
            )
            .bind(&payload)
            .bind(count)
            .execute(&mut *write)
            .await
            .unwrap();
            write.commit().await.unwrap();
            app.db.wake_readers().await.unwrap();
        }
    }
}

#[tokio::test]
async fn concurrent_rebuild_requests_start_one_rebuild_and_answer_409_to_the_others() {
    let app = spawn_app().await;
    append_many_campaigns(&app, 20_000).await;
    app.wait_for_projection("campaigns", |s| s["lag"] == 0).await;

    // Ten requests at once: the first to claim the view rebuilds it; every other
    // one finds it claimed.
    let requests = (0..10).map(|_| app.post("/admin/projections/campaigns/rebuild"));
    let responses = futures::future::join_all(requests).await;

    let mut started = 0;
    for response in responses {
        if response.status() == 202 {
            started += 1;
        } else {
            assert_problem(response, 409, "projection.rebuild_running").await;
        }
    }
    assert_eq!(started, 1, "one rebuild, and only one, was started");
    // It finishes, and then another may start (one at a time, not one ever).
    app.wait_for_projection("campaigns", |s| s["state"] == "running" && s["lag"] == 0)
        .await;
    rebuild(&app, "campaigns").await;
    assert_eq!(
        app.scalar("SELECT count(*) FROM campaign_view WHERE name = $1", "bulk")
            .await,
        20_000
    );
}

/// After [`Instance::kill`] on SQLite: a process that died is recognised by its
/// process id, and its leases taken over at once (`store/src/sqlite/mod.rs`); a killed
/// instance of this test process leaves that id alive, so its leases are expired by
/// hand, as its death would have them treated. (On Postgres its leases went with its
/// connections.)
async fn expire_leases_of_the_killed(app: &TestApp) {
    if app.db.as_sqlite().is_some() {
        test_support::execute(&app.db, "UPDATE leases SET expires_at = 0", &[]).await;
    }
}
