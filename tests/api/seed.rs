//! The seed system's front door, black-box: its clients' requests, verbatim, are
//! accepted (202), run by the embedded command queue, and answered by
//! `GET /commands/{id}`; the events carry the command's id as correlation id.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

/// The seed's documented request body (`../shared/seeds/000_*.txt`), verbatim.
const SEED_CAMPAIGN: &str = r#"{
    "nombre": "Test",
    "presupuesto": 10000,
    "divisa": "USD",
    "marca_id": "12dqweqwqdsxq",
    "participantes": [
        {
          "id": "p-98765",
          "tipo": "Influencer",
          "nombre": "Alice Doe",
          "informacion_perfil": "Influencer de moda con 200k seguidores"
        },
        {
          "id": "p-54321",
          "tipo": "Affiliate",
          "nombre": "Blog Moda Trends",
          "informacion_perfil": "Sitio web con 50k visitas mensuales"
        }
  ]
}"#;

const SEED_PARTNER: &str = r#"{
    "nombre": "Alice Doe",
    "tipo": "influencer",
    "informacion_perfil": "Influencer de moda con 200k seguidores"
}"#;

/// Sends a seed request as its clients do (`Content-Type: aplication/json`, sic).
async fn seed(
    app: &TestApp,
    method: Method,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .request(method, path)
        .header("content-type", "aplication/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

/// A 202 receipt; returns the command id after checking `Location` and `status_url`.
async fn receipt(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["command_id"].as_str().expect("a command id").to_owned();
    assert_eq!(location, format!("/commands/{id}"));
    assert_eq!(body["status_url"], location);
    id
}

/// Registers the seed's documented campaign and waits for it: its id.
async fn seed_campaign(app: &TestApp) -> String {
    let response = seed(
        app,
        Method::POST,
        "/crear-campaign",
        SEED_CAMPAIGN,
        &[("prefer", "wait=10")],
    )
    .await;
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["status"], "succeeded", "{status}");
    status["aggregate_id"].as_str().unwrap().to_owned()
}

/// The outcome of a seed conversion, submitted until it succeeds: the tracking service
/// learns of the campaign's activation from the bus a moment after the command, and until
/// then refuses the conversion (the only failure expected meanwhile).
async fn conversion_once_tracked(app: &TestApp, body: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let command_id = receipt(seed(app, Method::POST, "/registrar-evento", body, &[]).await).await;
        let status = outcome(app, &command_id).await;
        if status["status"] == "succeeded" {
            return status;
        }
        assert_eq!(
            status["problem"]["code"], "tracking.campaign_not_active",
            "{status}"
        );
        assert!(tokio::time::Instant::now() < deadline, "never tracked: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The command's status once it is no longer pending.
async fn outcome(app: &TestApp, command_id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = app.get_json(&format!("/commands/{command_id}")).await;
        if status["status"] != "pending" {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "still pending: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn succeeded(app: &TestApp, command_id: &str) -> Value {
    let status = outcome(app, command_id).await;
    assert_eq!(status["status"], "succeeded", "{status}");
    assert!(status["completed_at"].is_string(), "{status}");
    status
}

#[tokio::test]
async fn the_seeds_documented_campaign_request_is_accepted_run_and_visible() {
    let app = spawn_app().await;

    let command_id = receipt(seed(&app, Method::POST, "/crear-campaign", SEED_CAMPAIGN, &[]).await).await;

    let status = succeeded(&app, &command_id).await;
    assert_eq!(status["type"], "alpes.command.register-campaign.v1");
    assert_eq!(status["event_ids"].as_array().unwrap().len(), 3, "{status}");
    let campaign_id = status["aggregate_id"].as_str().unwrap();
    let position = status["position"].as_i64().unwrap();
    let campaign = app
        .get_json(&format!(
            "/obtener-campaigns/{campaign_id}?min_position={position}"
        ))
        .await;
    assert_eq!(campaign["name"], "Test");
    assert_eq!(campaign["brand_id"], "12dqweqwqdsxq");
    assert_eq!(
        campaign["budget"],
        json!({"amount": "10000.00", "currency": "USD"})
    );
    assert_eq!(campaign["participants"][0]["kind"], "influencer");
    assert_eq!(campaign["participants"][1]["kind"], "affiliate");
    let events = app.get_json(&format!("/campaigns/{campaign_id}/events")).await;
    for event in events["items"].as_array().unwrap() {
        assert_eq!(
            event["metadata"]["correlation_id"],
            command_id.as_str(),
            "{event}"
        );
    }
    let listed = app
        .get_json(&format!("/obtener-campaigns?min_position={position}"))
        .await;
    assert_eq!(listed["items"][0]["id"], campaign_id);
}

#[tokio::test]
async fn both_names_work_and_prefer_wait_answers_the_outcome() {
    let app = spawn_app().await;
    let body = SEED_CAMPAIGN.replace("10000", "\"10000.5\"");

    let response = seed(
        &app,
        Method::POST,
        "/registrar-campaign",
        &body,
        &[("prefer", "wait=10")],
    )
    .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["preference-applied"], "wait=10");
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/commands/"));
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["status"], "succeeded", "{status}");
    let campaign_id = status["aggregate_id"].as_str().unwrap().to_owned();

    // A partner, by both names; with `id_campaign` it joins the campaign too.
    let partner = receipt(seed(&app, Method::POST, "/crear-partner", SEED_PARTNER, &[]).await).await;
    let partner = succeeded(&app, &partner).await;
    assert_eq!(partner["type"], "alpes.command.register-partner.v1");
    let joining =
        json!({"nombre": "Blog", "tipo": "Affiliate", "informacion_perfil": "", "id_campaign": campaign_id});
    let response = seed(
        &app,
        Method::POST,
        "/registrar-partner",
        &joining.to_string(),
        &[("prefer", "wait=10")],
    )
    .await;
    let joined: Value = response.json().await.unwrap();
    assert_eq!(joined["status"], "succeeded", "{joined}");
    assert_eq!(
        joined["participation"]["aggregate_id"],
        campaign_id.as_str(),
        "{joined}"
    );
    let partner_id = joined["aggregate_id"].as_str().unwrap();
    let position = joined["participation"]["position"].as_i64().unwrap();
    let campaign = app
        .get_json(&format!("/campaigns/{campaign_id}?min_position={position}"))
        .await;
    let participants = campaign["participants"].as_array().unwrap();
    assert!(
        participants.iter().any(|p| p["partner_id"] == partner_id),
        "{campaign}"
    );
}

#[tokio::test]
async fn a_command_that_breaks_a_rule_fails_with_the_native_problem() {
    let app = spawn_app().await;
    let body = SEED_CAMPAIGN.replace("\"USD\"", "\"XYZ\"");
    let native = json!({"name": "Test", "brand_id": "b", "budget": {"amount": "10", "currency": "XYZ"}});
    let native = app.post_json("/campaigns", &native).await;
    let native: Value = native.json().await.unwrap();

    let command_id = receipt(seed(&app, Method::POST, "/crear-campaign", &body, &[]).await).await;

    let status = outcome(&app, &command_id).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["problem"]["code"], native["code"], "{status} vs {native}");
    assert_eq!(status["problem"]["status"], 422);
    assert!(status.get("aggregate_id").is_none(), "{status}");
}

#[tokio::test]
async fn shape_errors_answer_at_once() {
    let app = spawn_app().await;
    let not_a_number = SEED_CAMPAIGN.replace("10000", "true");
    assert_problem(
        seed(&app, Method::POST, "/crear-campaign", &not_a_number, &[]).await,
        400,
        "request.invalid_field",
    )
    .await;
    let problem = assert_problem(
        seed(&app, Method::POST, "/crear-partner", "{\"tipo\": \"x\"}", &[]).await,
        400,
        "request.invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "nombre");
    assert_problem(
        seed(&app, Method::POST, "/crear-partner", "{", &[]).await,
        400,
        "request.malformed_json",
    )
    .await;
    let plain = app
        .request(Method::POST, "/crear-partner")
        .header("content-type", "text/plain")
        .body(SEED_PARTNER)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 415);
    let bad_date = r#"{"id_partner": "p", "id_campana": "c", "fecha": 9223372036854775807}"#;
    assert_problem(
        seed(&app, Method::POST, "/registrar-evento", bad_date, &[]).await,
        400,
        "request.invalid_field",
    )
    .await;
    assert_problem(
        app.get("/eliminar-campaign/not-a-uuid").await,
        404,
        "campaign.not_found",
    )
    .await;
    assert_problem(app.get("/commands/not-a-uuid").await, 404, "command.not_found").await;
    let inexact = SEED_CAMPAIGN.replace("10000", "12345678901234567.89");
    let problem = assert_problem(
        seed(&app, Method::POST, "/crear-campaign", &inexact, &[]).await,
        400,
        "request.invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "presupuesto");
    let joining = r#"{"nombre": "A", "tipo": "influencer", "id_campaign": "not-a-campaign"}"#;
    let problem = assert_problem(
        seed(&app, Method::POST, "/crear-partner", joining, &[]).await,
        400,
        "request.invalid_field",
    )
    .await;
    assert_eq!(problem["field"], "id_campaign");
    assert_problem(
        app.get(&format!("/commands/{}", uuid::Uuid::now_v7())).await,
        404,
        "command.not_found",
    )
    .await;
    // The native API keeps its strict content type.
    let native = app
        .request(Method::POST, "/partners")
        .header("content-type", "aplication/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(native.status(), 415);
}

#[tokio::test]
async fn an_idempotency_key_answers_the_first_command() {
    let app = spawn_app().await;
    let key = [("idempotency-key", "seed-retry-1")];

    let first = receipt(seed(&app, Method::POST, "/crear-partner", SEED_PARTNER, &key).await).await;
    let again = seed(&app, Method::POST, "/crear-partner", SEED_PARTNER, &key).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let second = receipt(again).await;
    let other = SEED_PARTNER.replace("Alice", "Bob");
    let reused = seed(&app, Method::POST, "/crear-partner", &other, &key).await;

    assert_eq!(first, second);
    assert_problem(reused, 422, "idempotency.key_reused").await;
    succeeded(&app, &first).await;
    assert_eq!(
        app.scalar(
            "SELECT count(*) FROM commands WHERE idempotency_key = $1",
            "seed-retry-1"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn campaigns_are_cancelled_with_get_or_delete() {
    let app = spawn_app().await;
    let campaign_id = seed_campaign(&app).await;

    let cancelled = receipt(app.get(&format!("/eliminar-campaign/{campaign_id}")).await).await;
    let cancelled = succeeded(&app, &cancelled).await;
    assert_eq!(cancelled["type"], "alpes.command.cancel-campaign.v1");
    let again = receipt(app.delete(&format!("/eliminar-campaign/{campaign_id}")).await).await;
    let again = outcome(&app, &again).await;

    assert_eq!(again["status"], "failed", "{again}");
    assert_eq!(again["problem"]["status"], 422, "{again}");
    let position = cancelled["position"].as_i64().unwrap();
    let campaign = app
        .get_json(&format!("/campaigns/{campaign_id}?min_position={position}"))
        .await;
    assert_eq!(campaign["status"], "cancelled");
    let unknown = receipt(
        app.get(&format!("/eliminar-campaign/{}", uuid::Uuid::now_v7()))
            .await,
    )
    .await;
    assert_eq!(outcome(&app, &unknown).await["problem"]["status"], 404);
    // A HEAD (a link checker) cancels nothing.
    let head = app
        .request(
            Method::HEAD,
            &format!("/eliminar-campaign/{}", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 405);
    assert_eq!(
        app.scalar("SELECT count(*) FROM commands WHERE command_type <> $1", "")
            .await,
        4
    );
}

#[tokio::test]
async fn without_a_tracking_service_a_conversion_is_refused_at_once() {
    let app = spawn_app_with(|settings| settings.bus = alpes::settings::BusSettings::Off).await;
    let body = r#"{"id_partner": "p-98765", "id_campana": "c"}"#;

    let response = seed(&app, Method::POST, "/registrar-evento", body, &[]).await;

    assert_problem(response, 503, "service.unavailable").await;
    assert_eq!(
        app.scalar("SELECT count(*) FROM commands WHERE command_type <> $1", "")
            .await,
        0
    );
}

#[tokio::test]
async fn a_seed_conversion_is_recorded_by_the_tracking_service() {
    let app = spawn_app().await;
    let campaign_id = seed_campaign(&app).await;
    accepted(app.post(&format!("/campaigns/{campaign_id}/activate")).await, 200).await;
    let body =
        json!({"id_partner": "p-98765", "id_campana": campaign_id, "fecha": 1795341600000i64}).to_string();

    let status = conversion_once_tracked(&app, &body).await;

    assert_eq!(status["type"], "alpes.command.register-conversion.v1");
    assert!(status["conversion_id"].is_string(), "{status}");
    assert_eq!(status["occurred_at"], "2026-11-22T10:00:00Z");
    let stats = app
        .get_json(&format!("/tracking/campaigns/{campaign_id}/stats"))
        .await;
    assert_eq!(stats["conversions"]["count"], 1, "{stats}");
}

#[tokio::test]
async fn a_command_accepted_before_a_crash_runs_after_the_restart_and_once() {
    // Arrange: a command that committed its events, then a crash before its outcome was
    // stored (the outcome is put back to pending, as the crash would have left it).
    let app = spawn_app().await;
    let command_id = receipt(seed(&app, Method::POST, "/crear-campaign", SEED_CAMPAIGN, &[]).await).await;
    let first = succeeded(&app, &command_id).await;
    app.instance().kill();
    let reset =
        "UPDATE commands SET status = 'pending', result = NULL, completed_at = NULL WHERE command_id = $1";
    assert_eq!(
        test_support::execute(&app.db, &reset.replace("$1", &format!("'{command_id}'")), &[]).await,
        1
    );
    let events_before = app.count_events().await;

    // Act: a new process over the same database.
    let second = start_on(&app.database_url).await;
    let restarted = app.attach(&second);

    // Assert: the same outcome, and nothing written twice.
    let again = succeeded(&restarted, &command_id).await;
    assert_eq!(again["event_ids"], first["event_ids"]);
    assert_eq!(again["aggregate_id"], first["aggregate_id"]);
    assert_eq!(restarted.count_events().await, events_before);
    second.kill();
}

mod with_pulsar {
    //! The same front door with `PULSAR_URL`: the commands travel on the seed's topics,
    //! `alpes serve` runs the campaign and partner ones, `alpes tracking` the conversions,
    //! whose outcomes come back on the outcomes topic.

    use super::*;
    use alpes::settings::{BusSettings, CommandTransport};
    use bus::commands::{CommandConsumerSettings, CommandTopics};
    use pulsar_test_broker::TestBroker;
    use test_support::TestDb;

    async fn spawn_with(broker: &TestBroker) -> TestApp {
        let pulsar = bus::PulsarSettings::new(broker.url());
        spawn_app_with(move |settings| {
            settings.bus = BusSettings::Pulsar(pulsar.clone());
            settings.commands = CommandTransport::Pulsar(pulsar, CommandTopics::default());
        })
        .await
    }

    #[tokio::test]
    async fn seed_commands_travel_on_their_topics_and_their_events_carry_the_command_id() {
        let broker = TestBroker::start().await;
        let app = spawn_with(&broker).await;
        let topics = CommandTopics::default();

        let command_id = receipt(seed(&app, Method::POST, "/crear-campaign", SEED_CAMPAIGN, &[]).await).await;

        let status = succeeded(&app, &command_id).await;
        let campaign_id = status["aggregate_id"].as_str().unwrap().to_owned();
        let sent = broker
            .wait_for_messages(&topics.register_campaign, 1, Duration::from_secs(10))
            .await;
        assert_eq!(sent[0].partition_key.as_deref(), Some(campaign_id.as_str()));
        let message: Value = serde_json::from_slice(&sent[0].payload).unwrap();
        assert_eq!(message["id"], command_id.as_str());
        assert_eq!(message["type"], "alpes.command.register-campaign.v1");
        assert_eq!(message["data"]["name"], "Test");
        let schemas = contract::v1::schema::Schemas::v1();
        assert_eq!(
            schemas.command_errors(&message),
            Vec::<String>::new(),
            "{message}"
        );
        assert_eq!(
            schemas.undocumented_command_fields(&message),
            Vec::<String>::new()
        );
        let published = broker
            .wait_for_messages(bus::DEFAULT_CAMPAIGN_TOPIC, 3, Duration::from_secs(10))
            .await;
        for event in &published {
            let event: Value = serde_json::from_slice(&event.payload).unwrap();
            assert_eq!(event["correlationid"], command_id.as_str(), "{event}");
        }

        // Cancelled with the seed's GET, on its own topic.
        let cancel = receipt(app.get(&format!("/eliminar-campaign/{campaign_id}")).await).await;
        succeeded(&app, &cancel).await;
        let sent = broker
            .wait_for_messages(&topics.cancel_campaign, 1, Duration::from_secs(10))
            .await;
        assert_eq!(sent[0].partition_key.as_deref(), Some(campaign_id.as_str()));
        let partner = seed(
            &app,
            Method::POST,
            "/crear-partner",
            SEED_PARTNER,
            &[("prefer", "wait=10")],
        )
        .await;
        let partner: Value = partner.json().await.unwrap();
        assert_eq!(partner["status"], "succeeded", "{partner}");
        broker
            .wait_for_messages(&topics.register_partner, 1, Duration::from_secs(10))
            .await;
        let consumers = app.get_json("/command-consumers").await;
        assert_eq!(consumers["transport"], "pulsar", "{consumers}");
        assert_eq!(consumers["pending"], 0, "{consumers}");
        let figures = consumers["consumers"].as_array().unwrap();
        let campaigns = figures
            .iter()
            .find(|figures| figures["name"] == topics.register_campaign.as_str())
            .expect("the campaign topic's consumer");
        assert_eq!(
            campaigns["subscription"], "sub-com-registrar-campaign",
            "{consumers}"
        );
        assert_eq!(campaigns["succeeded"], 1, "{consumers}");
        assert!(
            figures
                .iter()
                .any(|f| f["subscription"] == "alpes-serve-outcomes"),
            "{consumers}"
        );
    }

    #[tokio::test]
    async fn a_conversion_runs_in_alpes_tracking_and_its_outcome_comes_back() {
        let broker = TestBroker::start().await;
        let app = spawn_with(&broker).await;
        // `alpes tracking`, over a database of its own.
        let tracking_db = TestDb::of(test_support::backend()).await;
        tracking::migrate(&tracking_db.db).await.unwrap();
        let mut service = tracking::TrackingService::start(
            tracking_db.db.clone(),
            tracking::TrackingConfig::new(broker.url()),
        );
        service.start_conversion_commands(
            CommandConsumerSettings::new(broker.url()),
            &CommandTopics::default(),
        );
        let campaign_id = seed_campaign(&app).await;
        accepted(app.post(&format!("/campaigns/{campaign_id}/activate")).await, 200).await;
        let body = json!({"id_partner": "p-54321", "id_campana": campaign_id}).to_string();

        let status = conversion_once_tracked(&app, &body).await;

        assert_eq!(status["type"], "alpes.command.register-conversion.v1");
        assert!(status["conversion_id"].is_string(), "{status}");
        assert_eq!(status["partner_id"], "p-54321");
        // In alpes tracking's own stats, over its HTTP API.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tracking_address = format!("http://{}", listener.local_addr().unwrap());
        let router = service.router(&crate::helpers::test_authentication());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let stats: Value = app
            .client
            .get(format!(
                "{tracking_address}/tracking/campaigns/{campaign_id}/stats"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stats["conversions"]["count"], 1, "{stats}");
        service.shutdown().await;
    }

    #[tokio::test]
    async fn a_redelivered_command_writes_nothing_new_and_keeps_its_first_outcome() {
        let broker = TestBroker::start().await;
        let app = spawn_with(&broker).await;
        let topics = CommandTopics::default();
        let command_id = receipt(seed(&app, Method::POST, "/crear-campaign", SEED_CAMPAIGN, &[]).await).await;
        let first = succeeded(&app, &command_id).await;
        let events = app.count_events().await;

        // The same message again, as a broker redelivers it (or a producer resends it).
        let sent = broker
            .wait_for_messages(&topics.register_campaign, 1, Duration::from_secs(10))
            .await;
        let message: contract::v1::commands::CommandMessage<Value> =
            serde_json::from_slice(&sent[0].payload).unwrap();
        let publisher =
            bus::commands::PulsarCommands::new(bus::PulsarSettings::new(broker.url()), topics.clone());
        bus::PublishCommand::publish(&publisher, &message).await.unwrap();

        // Consumed (the topic's backlog drains), and nothing changed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while broker.messages(&topics.register_campaign).len() < 2
            || broker.backlog(&topics.register_campaign, "sub-com-registrar-campaign") != Some(0)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the redelivery was not consumed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let consumers = app.get_json("/command-consumers").await;
        let campaigns = consumers["consumers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|figures| figures["name"] == topics.register_campaign.as_str())
            .cloned()
            .unwrap();
        assert_eq!(campaigns["received"], 2, "{consumers}");
        assert_eq!(app.count_events().await, events);
        let again = app.get_json(&format!("/commands/{command_id}")).await;
        assert_eq!(again, first);
    }

    #[tokio::test]
    async fn a_process_that_does_not_relay_still_sends_its_commands_to_the_topics() {
        let broker = TestBroker::start().await;
        let pulsar = bus::PulsarSettings::new(broker.url());
        // `--no-relay` with `PULSAR_URL`: another process relays the events.
        let app = spawn_app_with(move |settings| {
            settings.bus = BusSettings::Off;
            settings.commands = CommandTransport::Pulsar(pulsar, CommandTopics::default());
        })
        .await;

        let response = seed(
            &app,
            Method::POST,
            "/crear-partner",
            SEED_PARTNER,
            &[("prefer", "wait=10")],
        )
        .await;

        let status: Value = response.json().await.unwrap();
        assert_eq!(status["status"], "succeeded", "{status}");
        let sent = broker
            .wait_for_messages(
                &CommandTopics::default().register_partner,
                1,
                Duration::from_secs(10),
            )
            .await;
        assert_eq!(sent.len(), 1);
    }

    #[tokio::test]
    async fn a_keyed_command_the_broker_did_not_confirm_is_published_again_on_retry() {
        let broker = TestBroker::start().await;
        let app = spawn_with(&broker).await;
        let key = [("idempotency-key", "seed-broker-down")];
        broker.set_down(true).await;

        let refused = seed(&app, Method::POST, "/crear-partner", SEED_PARTNER, &key).await;
        assert_problem(refused, 503, "service.unavailable").await;
        broker.set_down(false).await;
        let retried = receipt(seed(&app, Method::POST, "/crear-partner", SEED_PARTNER, &key).await).await;

        // The command kept from the first attempt, published now and run once.
        let status = succeeded(&app, &retried).await;
        let stored = app
            .scalar(
                "SELECT count(*) FROM commands WHERE idempotency_key = $1",
                "seed-broker-down",
            )
            .await;
        assert_eq!(stored, 1);
        let partner = status["aggregate_id"].as_str().unwrap();
        assert_eq!(app.stored_events(partner).await.len(), 1);
    }

    #[tokio::test]
    async fn a_command_the_broker_does_not_confirm_is_not_accepted() {
        // Nothing listens on port 1: no broker takes the command.
        let app = spawn_app_with(|settings| {
            let mut pulsar = bus::PulsarSettings::new("pulsar://127.0.0.1:1");
            pulsar.connection_timeout = Duration::from_millis(500);
            pulsar.operation_timeout = Duration::from_secs(1);
            settings.bus = BusSettings::Pulsar(pulsar.clone());
            settings.commands = CommandTransport::Pulsar(pulsar, CommandTopics::default());
        })
        .await;

        let response = seed(&app, Method::POST, "/crear-partner", SEED_PARTNER, &[]).await;

        assert_problem(response, 503, "service.unavailable").await;
        assert_eq!(
            app.scalar("SELECT count(*) FROM commands WHERE command_type <> $1", "")
                .await,
            0
        );
    }
}

#[tokio::test]
async fn a_queued_command_that_cannot_be_read_fails_and_the_queue_goes_on() {
    let app = spawn_app().await;
    // A command of a type this version does not know, as a newer version might queue.
    let poison = uuid::Uuid::now_v7();
    let insert = format!(
        "INSERT INTO commands (command_id, command_type, payload, queued, submitted_at) \
         VALUES ('{poison}', 'alpes.command.unknown.v9', '{{}}', true, '2026-12-03T10:00:00Z')"
    );
    assert_eq!(test_support::execute(&app.db, &insert, &[]).await, 1);

    let next = receipt(seed(&app, Method::POST, "/crear-partner", SEED_PARTNER, &[]).await).await;

    succeeded(&app, &next).await;
    let failed = outcome(&app, &poison.to_string()).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["problem"]["code"], "command.unknown_type", "{failed}");
}
