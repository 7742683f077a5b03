//! `/health`, `/ready`, `/openapi.json`, and what a client sees when the database is down.

use crate::helpers::*;
use aggregates::campaign::Campaign;
use aggregates::partner::Partner;
use api::AppState;
use projections::{Projections, ProjectorSettings};
use reqwest::Method;
use serde_json::Value;
use sqlx::postgres::PgConnectOptions;
use std::sync::Arc;
use std::time::Duration;
use store::LogWaker;
use store::{AlpesEventStore, CommandExecutor, EventLog};

#[tokio::test]
async fn health_and_ready_answer_200() {
    let app = spawn_app().await;
    let health = app.request(Method::GET, "/health").send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.request(Method::GET, "/ready").send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn the_openapi_document_lists_every_command_endpoint() {
    let app = spawn_app().await;
    let document: Value = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/campaigns", "post"),
        ("/campaigns/{id}/participants", "post"),
        ("/campaigns/{id}/participants/{partner_id}", "delete"),
        ("/campaigns/{id}/budget", "put"),
        ("/campaigns/{id}/schedule", "put"),
        ("/campaigns/{id}/activate", "post"),
        ("/campaigns/{id}/pause", "post"),
        ("/campaigns/{id}/resume", "post"),
        ("/campaigns/{id}/complete", "post"),
        ("/campaigns/{id}/cancel", "post"),
        ("/partners", "post"),
        ("/partners/{id}/profile", "put"),
        ("/partners/{id}/suspend", "post"),
        ("/partners/{id}/reinstate", "post"),
        ("/partners/{id}/deactivate", "post"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/crear-campaign", "post"),
        ("/registrar-campaign", "post"),
        ("/crear-partner", "post"),
        ("/registrar-partner", "post"),
        ("/registrar-evento", "post"),
        ("/eliminar-campaign/{id}", "get"),
        ("/eliminar-campaign/{id}", "delete"),
        ("/obtener-campaigns", "get"),
        ("/obtener-campaigns/{id}", "get"),
        ("/commands/{id}", "get"),
        ("/command-consumers", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
}

/// The API over a database that does not answer (nothing listens on port 1).
async fn spawn_without_database() -> String {
    let options: PgConnectOptions = "postgres://postgres@127.0.0.1:1/alpes".parse().unwrap();
    let db = store::Database::from(store::postgres::connect_lazy(options, 1));
    let log = EventLog::new(db.clone());
    let (projections, _not_run) =
        Projections::new(&db, &LogWaker::never(), &ProjectorSettings::default(), Vec::new);
    let state = AppState {
        campaigns: Arc::new(CommandExecutor::new(
            AlpesEventStore::<Campaign>::new(log.clone(), vec![], 0),
            (),
        )),
        partners: Arc::new(CommandExecutor::new(
            AlpesEventStore::<Partner>::new(log, vec![], 0),
            (),
        )),
        projections,
        consistency_timeout: Duration::from_secs(1),
        relay: None,
        commands: api::seed::CommandDesk::embedded(store::CommandQueue::new(&db), Default::default(), false),
        db,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let router = api::router(state, &crate::helpers::test_authentication());
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

#[tokio::test]
async fn without_a_database_ready_and_commands_are_503() {
    let address = spawn_without_database().await;
    let client = crate::helpers::client_as(&crate::helpers::test_admin());
    let ready = client.get(format!("{address}/ready")).send().await.unwrap();
    assert_problem(ready, 503, "service.unavailable").await;
    let command = client
        .post(format!("{address}/partners"))
        .json(&partner_body())
        .send()
        .await
        .unwrap();
    assert_problem(command, 503, "service.unavailable").await;
    // A seed command is not accepted when it cannot be stored, nor its status read.
    let seed = client
        .post(format!("{address}/crear-partner"))
        .json(&serde_json::json!({"nombre": "Alice Doe", "tipo": "influencer"}))
        .send()
        .await
        .unwrap();
    assert_problem(seed, 503, "service.unavailable").await;
    let status = client
        .get(format!("{address}/commands/{}", uuid::Uuid::now_v7()))
        .send()
        .await
        .unwrap();
    assert_problem(status, 503, "service.unavailable").await;
}
