//! Authentication and authorization, end to end: every route against every role, the
//! tokens that are refused, what each role sees in lists, and the audit trail.

use crate::helpers::*;
use auth::{Access, Principal, Role, Rule};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use uuid::Uuid;

/// Who calls, in the table: each role, and for the scoped ones someone else's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    /// The brand of the fixture campaign.
    Brand,
    OtherBrand,
    /// The fixture partner, a participant of the fixture campaign.
    Partner,
    OtherPartner,
    Tracker,
    Reader,
}

const EVERYONE: [Who; 7] = [
    Who::Admin,
    Who::Brand,
    Who::OtherBrand,
    Who::Partner,
    Who::OtherPartner,
    Who::Tracker,
    Who::Reader,
];

const BRAND: &str = "brand-own";

impl Who {
    fn principal(self, partner_id: &str) -> Principal {
        match self {
            Who::Admin => Principal::new("t-admin", Role::Admin),
            Who::Brand => Principal::brand("t-brand", BRAND),
            Who::OtherBrand => Principal::brand("t-other-brand", "brand-other"),
            Who::Partner => Principal::partner("t-partner", partner_id),
            Who::OtherPartner => Principal::partner("t-other-partner", Uuid::now_v7().to_string()),
            Who::Tracker => Principal::new("t-tracker", Role::Tracker),
            Who::Reader => Principal::new("t-reader", Role::Reader),
        }
    }

    fn role(self) -> Role {
        self.principal("p").role
    }
}

/// What a caller should get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Past the guard and the scoping: whatever the route then answers (2xx, or a
    /// domain's 4xx), but not 401, 403 or the 404 of something it may not see.
    Allowed,
    Forbidden,
    /// The 404 of a resource that does not exist.
    Hidden,
}

/// One request of the table: `{c}` is the fixture campaign, `{p}` the fixture partner,
/// `{cmd}` a command the admin submitted.
struct Case {
    method: Method,
    /// The route's template, as the rules name it.
    route: &'static str,
    /// The path, with its placeholders (and a query string, if any).
    path: &'static str,
    body: Option<Value>,
    /// Callers whose role may call the route but who may not see its resource: 404.
    hidden_for: &'static [Who],
    /// Callers whose role may call the route but whose body is not theirs: 403.
    forbidden_for: &'static [Who],
}

fn case(method: Method, route: &'static str, path: &'static str, body: Option<Value>) -> Case {
    Case {
        method,
        route,
        path,
        body,
        hidden_for: &[],
        forbidden_for: &[],
    }
}

impl Case {
    fn hidden_for(mut self, who: &'static [Who]) -> Self {
        self.hidden_for = who;
        self
    }

    fn forbidden_for(mut self, who: &'static [Who]) -> Self {
        self.forbidden_for = who;
        self
    }
}

const NOT_THE_CAMPAIGNS: &[Who] = &[Who::OtherBrand, Who::OtherPartner];
const NOT_THE_BRAND: &[Who] = &[Who::OtherBrand];
const NOT_THE_PARTNER: &[Who] = &[Who::OtherPartner];
const NOT_THE_ISSUER: &[Who] = &[
    Who::Brand,
    Who::OtherBrand,
    Who::Partner,
    Who::OtherPartner,
    Who::Tracker,
];

/// Every route, in an order that keeps the fixtures usable: what ends them
/// (cancelling, deactivating) comes last.
fn cases() -> Vec<Case> {
    use Method as M;
    let campaign = json!({"name": "Table", "brand_id": BRAND, "budget": {"amount": "10", "currency": "USD"}});
    let seed_campaign = json!({"nombre": "Tabla", "presupuesto": 10, "divisa": "USD", "marca_id": BRAND});
    let profile = json!({"name": "Renamed", "kind": "affiliate"});
    vec![
        case(M::GET, "/health", "/health", None),
        case(M::GET, "/ready", "/ready", None),
        case(M::GET, "/openapi.json", "/openapi.json", None),
        // Reads.
        case(M::GET, "/campaigns", "/campaigns", None),
        case(
            M::GET,
            "/campaigns/{id}",
            "/campaigns/{c}?min_position={pos}",
            None,
        )
        .hidden_for(NOT_THE_CAMPAIGNS),
        case(M::GET, "/campaigns/{id}/events", "/campaigns/{c}/events", None).hidden_for(NOT_THE_BRAND),
        case(M::GET, "/partners", "/partners", None),
        case(M::GET, "/partners/{id}", "/partners/{p}?min_position={pos}", None).hidden_for(NOT_THE_PARTNER),
        case(M::GET, "/partners/{id}/events", "/partners/{p}/events", None).hidden_for(NOT_THE_PARTNER),
        case(M::GET, "/obtener-campaigns", "/obtener-campaigns", None),
        case(
            M::GET,
            "/obtener-campaigns/{id}",
            "/obtener-campaigns/{c}?min_position={pos}",
            None,
        )
        .hidden_for(NOT_THE_CAMPAIGNS),
        case(M::GET, "/commands/{id}", "/commands/{cmd}", None).hidden_for(NOT_THE_ISSUER),
        case(M::GET, "/projections", "/projections", None),
        case(M::GET, "/relay", "/relay", None),
        case(M::GET, "/command-consumers", "/command-consumers", None),
        case(M::GET, "/metrics", "/metrics", None),
        case(M::GET, "/tracking/status", "/tracking/status", None),
        case(
            M::GET,
            "/tracking/campaigns/{id}/stats",
            "/tracking/campaigns/{c}/stats",
            None,
        ),
        // Writes.
        case(M::POST, "/campaigns", "/campaigns", Some(campaign)).forbidden_for(NOT_THE_BRAND),
        case(
            M::POST,
            "/crear-campaign",
            "/crear-campaign",
            Some(seed_campaign.clone()),
        )
        .forbidden_for(NOT_THE_BRAND),
        case(
            M::POST,
            "/registrar-campaign",
            "/registrar-campaign",
            Some(seed_campaign),
        )
        .forbidden_for(NOT_THE_BRAND),
        case(
            M::POST,
            "/campaigns/{id}/participants",
            "/campaigns/{c}/participants",
            Some(participant("p-new")),
        )
        .hidden_for(NOT_THE_BRAND),
        case(
            M::DELETE,
            "/campaigns/{id}/participants/{partner_id}",
            "/campaigns/{c}/participants/p-extra",
            None,
        )
        .hidden_for(NOT_THE_BRAND),
        case(
            M::PUT,
            "/campaigns/{id}/budget",
            "/campaigns/{c}/budget",
            Some(json!({"amount": "20", "currency": "USD"})),
        )
        .hidden_for(NOT_THE_BRAND),
        case(
            M::PUT,
            "/campaigns/{id}/schedule",
            "/campaigns/{c}/schedule",
            Some(json!({"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-02-01T00:00:00Z"})),
        )
        .hidden_for(NOT_THE_BRAND),
        case(
            M::POST,
            "/campaigns/{id}/activate",
            "/campaigns/{c}/activate",
            None,
        )
        .hidden_for(NOT_THE_BRAND),
        case(M::POST, "/campaigns/{id}/pause", "/campaigns/{c}/pause", None).hidden_for(NOT_THE_BRAND),
        case(M::POST, "/campaigns/{id}/resume", "/campaigns/{c}/resume", None).hidden_for(NOT_THE_BRAND),
        case(
            M::POST,
            "/tracking/clicks",
            "/tracking/clicks",
            Some(json!({"campaign_id": "{c}", "partner_id": "{p}"})),
        ),
        case(
            M::POST,
            "/tracking/conversions",
            "/tracking/conversions",
            Some(json!({"campaign_id": "{c}", "partner_id": "{p}"})),
        ),
        case(
            M::POST,
            "/registrar-evento",
            "/registrar-evento",
            Some(json!({"id_partner": "{p}", "id_campana": "{c}"})),
        ),
        case(M::POST, "/partners", "/partners", Some(partner_body())),
        case(
            M::POST,
            "/crear-partner",
            "/crear-partner",
            Some(json!({"nombre": "Ana", "tipo": "afiliado"})),
        ),
        case(
            M::POST,
            "/registrar-partner",
            "/registrar-partner",
            Some(json!({"nombre": "Ana", "tipo": "afiliado"})),
        ),
        case(
            M::PUT,
            "/partners/{id}/profile",
            "/partners/{p}/profile",
            Some(profile),
        )
        .hidden_for(NOT_THE_PARTNER),
        case(
            M::POST,
            "/partners/{id}/suspend",
            "/partners/{p}/suspend",
            Some(json!({"reason": "test"})),
        ),
        case(
            M::POST,
            "/partners/{id}/reinstate",
            "/partners/{p}/reinstate",
            None,
        ),
        case(
            M::POST,
            "/admin/projections/{name}/retry",
            "/admin/projections/campaigns/retry",
            None,
        ),
        case(
            M::POST,
            "/admin/projections/{name}/skip",
            "/admin/projections/partners/skip",
            None,
        ),
        case(
            M::POST,
            "/admin/projections/{name}/rebuild",
            "/admin/projections/nothing-by-this-name/rebuild",
            None,
        ),
        // What ends the fixtures.
        case(
            M::POST,
            "/campaigns/{id}/complete",
            "/campaigns/{c}/complete",
            None,
        )
        .hidden_for(NOT_THE_BRAND),
        case(
            M::POST,
            "/campaigns/{id}/cancel",
            "/campaigns/{c}/cancel",
            Some(json!({"reason": "test"})),
        )
        .hidden_for(NOT_THE_BRAND),
        case(M::GET, "/eliminar-campaign/{id}", "/eliminar-campaign/{c}", None).hidden_for(NOT_THE_BRAND),
        case(
            M::DELETE,
            "/eliminar-campaign/{id}",
            "/eliminar-campaign/{c}",
            None,
        )
        .hidden_for(NOT_THE_BRAND),
        case(
            M::POST,
            "/partners/{id}/deactivate",
            "/partners/{p}/deactivate",
            None,
        ),
    ]
}

/// The rule of a route, in the api's table or the tracking service's.
fn rule(method: &Method, route: &str) -> &'static Rule {
    api::access::RULES
        .iter()
        .chain(tracking::http::RULES)
        .find(|rule| rule.method.as_str() == method.as_str() && rule.path == route)
        .unwrap_or_else(|| panic!("no rule for {method} {route}"))
}

fn expected(case: &Case, who: Who) -> Option<Expect> {
    match rule(&case.method, case.route).access {
        Access::Open => None,
        access if !access.roles().contains(&who.role()) => Some(Expect::Forbidden),
        _ if case.forbidden_for.contains(&who) => Some(Expect::Forbidden),
        _ if case.hidden_for.contains(&who) => Some(Expect::Hidden),
        _ => Some(Expect::Allowed),
    }
}

/// The fixtures one caller works on: a partner, and a campaign of [`BRAND`] that lists
/// it (and `p-extra`), and a command the admin submitted.
struct Fixture {
    campaign: String,
    partner: String,
    command: String,
    position: i64,
}

async fn fixture(app: &TestApp) -> Fixture {
    let partner = app.register_partner().await;
    let created = app
        .create_campaign_with(&json!({
            "name": "Fixture", "brand_id": BRAND, "budget": {"amount": "100", "currency": "USD"},
            "participants": [
                {"partner_id": partner, "kind": "influencer", "name": "Own"},
                {"partner_id": "p-extra", "kind": "affiliate", "name": "Extra"}
            ]
        }))
        .await;
    let response = app
        .request(Method::POST, "/crear-partner")
        .json(&json!({"nombre": "Fixture", "tipo": "afiliado"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let command: Value = response.json().await.unwrap();
    Fixture {
        campaign: created["aggregate_id"].as_str().unwrap().to_owned(),
        partner,
        command: command["command_id"].as_str().unwrap().to_owned(),
        position: created["position"].as_i64().unwrap(),
    }
}

fn fill(text: &str, fixture: &Fixture) -> String {
    text.replace("{c}", &fixture.campaign)
        .replace("{p}", &fixture.partner)
        .replace("{cmd}", &fixture.command)
        .replace("{pos}", &fixture.position.to_string())
}

/// What an answer says about authorization.
async fn observed(response: reqwest::Response) -> (Expect, String) {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let code = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|b| b["code"].as_str().map(str::to_owned));
    let hidden_codes = ["campaign.not_found", "partner.not_found", "command.not_found"];
    let seen = match (status, code.as_deref()) {
        (StatusCode::FORBIDDEN, _) => Expect::Forbidden,
        (StatusCode::UNAUTHORIZED, _) => panic!("a valid token was refused: {body}"),
        (StatusCode::NOT_FOUND, Some(code)) if hidden_codes.contains(&code) => Expect::Hidden,
        _ => Expect::Allowed,
    };
    (seen, format!("{status} {body}"))
}

#[tokio::test]
async fn every_route_admits_exactly_the_roles_and_resources_it_should() {
    let app = spawn_app().await;
    // Every rule has a case: a route added without one fails here.
    let cases = cases();
    let covered: HashSet<(String, &str)> = cases.iter().map(|c| (c.method.to_string(), c.route)).collect();
    for rule in api::access::RULES.iter().chain(tracking::http::RULES) {
        assert!(
            covered.contains(&(rule.method.to_string(), rule.path)),
            "no case for {} {}",
            rule.method,
            rule.path
        );
    }
    let mut wrong = Vec::new();
    for who in EVERYONE {
        let fixture = fixture(&app).await;
        let caller = app.as_principal(&who.principal(&fixture.partner));
        for case in &cases {
            let path = fill(case.path, &fixture);
            let mut request = caller.request(case.method.clone(), &path);
            if let Some(body) = &case.body {
                let body: Value = serde_json::from_str(&fill(&body.to_string(), &fixture)).unwrap();
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let Some(expect) = expected(case, who) else {
                assert!(
                    response.status().is_success(),
                    "{} {path}: {}",
                    case.method,
                    response.status()
                );
                continue;
            };
            let (seen, answer) = observed(response).await;
            if seen != expect {
                wrong.push(format!(
                    "{who:?} {} {path}: expected {expect:?}, got {answer}",
                    case.method
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn without_a_token_every_guarded_route_is_a_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let anonymous = reqwest::Client::new();
    for rule in api::access::RULES.iter().chain(tracking::http::RULES) {
        let path = rule
            .path
            .replace("{id}", &Uuid::now_v7().to_string())
            .replace("{name}", "campaigns");
        let path = path.replace("{partner_id}", "p-1");
        let response = anonymous
            .request(rule.method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        if matches!(rule.access, Access::Open) {
            assert!(response.status().is_success(), "{} {path}", rule.method);
            continue;
        }
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="alpes""#,
            "{} {path}",
            rule.method
        );
        assert_problem(response, 401, "auth.missing_token").await;
    }
}

/// Tokens a client may forge or keep too long: each is a 401 `invalid_token`.
#[tokio::test]
async fn bad_tokens_are_401_invalid_token() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let app = spawn_app().await;
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let sign = |claims: Value, secret: &str| {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let good = token(&Principal::new("t-reader", Role::Reader));
    let parts: Vec<&str> = good.split('.').collect();
    let promoted =
        URL_SAFE_NO_PAD.encode(json!({"sub": "t-reader", "role": "admin", "exp": now + 600}).to_string());
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(json!({"sub": "x", "role": "admin", "exp": now + 600}).to_string())
    );
    let switched = encode(
        &Header::new(Algorithm::HS384),
        &json!({"sub": "x", "role": "admin", "exp": now + 600}),
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap();
    let cases = [
        (
            "expired",
            sign(
                json!({"sub": "x", "role": "admin", "exp": now - 120}),
                TEST_SECRET,
            ),
        ),
        (
            "not yet valid",
            sign(
                json!({"sub": "x", "role": "admin", "exp": now + 600, "nbf": now + 120}),
                TEST_SECRET,
            ),
        ),
        (
            "wrong secret",
            sign(
                json!({"sub": "x", "role": "admin", "exp": now + 600}),
                "another-secret-of-32-bytes-at-least!!",
            ),
        ),
        ("alg none", unsigned),
        ("algorithm switched", switched),
        (
            "tampered payload",
            format!("{}.{promoted}.{}", parts[0], parts[2]),
        ),
        ("truncated", good[..good.len() - 6].to_owned()),
        ("no exp", sign(json!({"sub": "x", "role": "admin"}), TEST_SECRET)),
    ];
    let anonymous = reqwest::Client::new();
    for (label, token) in cases {
        let response = anonymous
            .get(format!("{}/campaigns", app.address))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{label}: {challenge}"
        );
        let body = assert_problem(response, 401, "auth.invalid_token").await;
        // Never the token itself.
        assert!(!body.to_string().contains(&token), "{label}: {body}");
    }
    // Not a bearer token at all.
    let basic = anonymous
        .get(format!("{}/campaigns", app.address))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(basic, 401, "auth.invalid_request").await;
}

#[tokio::test]
async fn a_brand_lists_its_own_campaigns_whatever_brand_it_asks_for() {
    let app = spawn_app().await;
    let own = app
        .create_campaign_with(
            &json!({"name": "Own", "brand_id": "b-own", "budget": {"amount": "1", "currency": "USD"}}),
        )
        .await;
    let other = app
        .create_campaign_with(
            &json!({"name": "Other", "brand_id": "b-other", "budget": {"amount": "1", "currency": "USD"}}),
        )
        .await;
    let position = other["position"]
        .as_i64()
        .unwrap()
        .max(own["position"].as_i64().unwrap());
    let brand = app.as_principal(&Principal::brand("t-brand", "b-own"));
    for path in ["/campaigns", "/obtener-campaigns"] {
        let mine = brand.get_json(&format!("{path}?min_position={position}")).await;
        let names: Vec<&str> = mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Own"], "{path}");
        let asked = brand
            .get_json(&format!("{path}?brand_id=b-other&min_position={position}"))
            .await;
        assert_eq!(asked["items"], json!([]), "{path}");
    }
    // Admins and readers see both.
    let reader = app.as_principal(&Principal::new("t-reader", Role::Reader));
    let all = reader
        .get_json(&format!("/campaigns?min_position={position}"))
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_partner_sees_itself_and_the_campaigns_that_list_it() {
    let app = spawn_app().await;
    let partner = app.register_partner().await;
    let _other_partner = app.register_partner().await;
    let listing = app
        .create_campaign_with(&json!({
            "name": "Listing", "brand_id": "b-1", "budget": {"amount": "1", "currency": "USD"},
            "participants": [{"partner_id": partner, "kind": "influencer", "name": "Me"}]
        }))
        .await;
    let not_listing = app.create_campaign_with(&campaign_body()).await;
    let position = not_listing["position"].as_i64().unwrap();
    let me = app.as_principal(&Principal::partner("t-partner", &partner));
    let campaigns = me.get_json(&format!("/campaigns?min_position={position}")).await;
    let ids: Vec<&str> = campaigns["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [listing["aggregate_id"].as_str().unwrap()]);
    let partners = me.get_json(&format!("/partners?min_position={position}")).await;
    let ids: Vec<&str> = partners["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [partner.as_str()]);
    let hidden = me
        .get(&format!(
            "/campaigns/{}",
            not_listing["aggregate_id"].as_str().unwrap()
        ))
        .await;
    assert_problem(hidden, 404, "campaign.not_found").await;
}

#[tokio::test]
async fn a_brand_sees_only_its_own_campaigns_among_a_partners() {
    let app = spawn_app().await;
    let partner = app.register_partner().await;
    let mut last = 0;
    for brand in ["b-own", "b-other"] {
        let created = app
            .create_campaign_with(&json!({
                "name": brand, "brand_id": brand, "budget": {"amount": "1", "currency": "USD"},
                "participants": [{"partner_id": partner, "kind": "influencer", "name": "P"}]
            }))
            .await;
        last = created["position"].as_i64().unwrap();
    }
    let brand = app.as_principal(&Principal::brand("t-brand", "b-own"));
    let seen = brand
        .get_json(&format!("/partners/{partner}?min_position={last}"))
        .await;
    let names: Vec<&str> = seen["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b-own"]);
}

#[tokio::test]
async fn a_brand_cannot_touch_another_brands_campaign_and_learns_nothing_of_it() {
    let app = spawn_app().await;
    let theirs = app.create_campaign().await;
    let written = app.stored_events(&theirs).await.len();
    let never = Uuid::now_v7();
    let brand = app.as_principal(&Principal::brand("t-brand", "b-nobody"));
    for id in [theirs.as_str(), &never.to_string()] {
        let response = brand.post(&format!("/campaigns/{id}/activate")).await;
        let body = assert_problem(response, 404, "campaign.not_found").await;
        assert_eq!(body["detail"], "no campaign exists with this id");
    }
    // Nothing was written.
    assert_eq!(app.stored_events(&theirs).await.len(), written);
}

#[tokio::test]
async fn every_event_records_who_caused_it() {
    let app = spawn_app().await;
    let brand = app.as_principal(&Principal::brand("alice@brand", "b-1"));
    let created = accepted(
        brand
            .post_json(
                "/campaigns",
                &json!({"name": "Audited", "brand_id": "b-1", "budget": {"amount": "1", "currency": "USD"}}),
            )
            .await,
        201,
    )
    .await;
    let id = created["aggregate_id"].as_str().unwrap();
    accepted(
        app.put_json(
            &format!("/campaigns/{id}/budget"),
            &json!({"amount": "2", "currency": "USD"}),
        )
        .await,
        200,
    )
    .await;
    let stream = app.get_json(&format!("/campaigns/{id}/events")).await;
    let who: Vec<(&str, &str)> = stream["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["metadata"]["principal_sub"].as_str().unwrap(),
                e["metadata"]["principal_role"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(who, [("alice@brand", "brand"), ("test-admin", "admin")]);

    // The partners' stream too.
    let partner = app.register_partner().await;
    let me = app.as_principal(&Principal::partner("bob@partner", &partner));
    let profile = json!({"name": "Bob", "kind": "affiliate"});
    accepted(
        me.put_json(&format!("/partners/{partner}/profile"), &profile)
            .await,
        200,
    )
    .await;
    let stream = me.get_json(&format!("/partners/{partner}/events")).await;
    let subs: Vec<&str> = stream["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["principal_sub"].as_str().unwrap())
        .collect();
    assert_eq!(subs, ["test-admin", "bob@partner"]);
}

#[tokio::test]
async fn seed_commands_run_as_whoever_issued_them() {
    let app = spawn_app().await;
    let brand = app.as_principal(&Principal::brand("carol@brand", "b-seed"));
    // Another brand's campaign in the body: refused at once.
    let refused = brand
        .request(Method::POST, "/crear-campaign")
        .json(&json!({"nombre": "X", "presupuesto": 1, "divisa": "USD", "marca_id": "b-else"}))
        .send()
        .await
        .unwrap();
    assert_problem(refused, 403, "auth.forbidden").await;
    // Its own: accepted, and its events name it with the command's correlation id.
    let response = brand
        .request(Method::POST, "/crear-campaign")
        .header("prefer", "wait=10")
        .json(&json!({"nombre": "Mine", "presupuesto": 1, "divisa": "USD", "marca_id": "b-seed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let status: Value = response.json().await.unwrap();
    assert_eq!(status["status"], "succeeded", "{status}");
    let campaign = status["aggregate_id"].as_str().unwrap();
    let stream = app.get_json(&format!("/campaigns/{campaign}/events")).await;
    let metadata = &stream["items"][0]["metadata"];
    assert_eq!(metadata["principal_sub"], "carol@brand");
    assert_eq!(metadata["principal_role"], "brand");
    assert_eq!(metadata["correlation_id"], status["command_id"]);
    let command_id = status["command_id"].as_str().unwrap().to_owned();
    // Cancelling another brand's campaign: the 404 of a campaign that does not exist.
    let theirs = app.create_campaign().await;
    let written = app.stored_events(&theirs).await.len();
    let response = brand.get(&format!("/eliminar-campaign/{theirs}")).await;
    let body = assert_problem(response, 404, "campaign.not_found").await;
    assert_eq!(body["detail"], "no campaign exists with this id");
    // The same command from its queue (or topic), issued by that brand: it runs with the
    // brand's rights, and fails the same way.
    let issuer = json!({"sub": "carol@brand", "role": "brand", "brand_id": "b-seed"});
    let queued = queue_cancellation(&app, &theirs, issuer).await;
    let outcome = queued_outcome(&app, queued).await;
    assert_eq!(outcome["status"], "failed", "{outcome}");
    assert_eq!(outcome["problem"]["code"], "campaign.not_found", "{outcome}");
    assert_eq!(app.stored_events(&theirs).await.len(), written);
    // Its own outcome is its to follow; another's is not, nor is it the same user's
    // token for another brand.
    assert_eq!(brand.get(&format!("/commands/{command_id}")).await.status(), 200);
    let elsewhere = app.as_principal(&Principal::brand("carol@brand", "b-else"));
    assert_problem(
        elsewhere.get(&format!("/commands/{command_id}")).await,
        404,
        "command.not_found",
    )
    .await;
    assert_eq!(brand.get(&format!("/commands/{command_id}")).await.status(), 200);
    let other = app.as_principal(&Principal::brand("dave@brand", "b-seed"));
    assert_problem(
        other.get(&format!("/commands/{command_id}")).await,
        404,
        "command.not_found",
    )
    .await;
}

/// Puts a cancellation of `campaign` issued by `issued_by` in the app's embedded queue,
/// as a command from elsewhere would arrive; its id.
async fn queue_cancellation(app: &TestApp, campaign: &str, issued_by: Value) -> Uuid {
    let command_id = Uuid::now_v7();
    store::CommandQueue::new(&app.db)
        .submit(store::NewCommand {
            command_id,
            command_type: "alpes.command.cancel-campaign.v1".into(),
            payload: json!({"campaign_id": campaign, "reason": "queued"}),
            queued: true,
            idempotency: None,
            issued_by: Some(issued_by),
        })
        .await
        .unwrap();
    command_id
}

/// The outcome of a queued command, once it has one (20 s at most).
async fn queued_outcome(app: &TestApp, command_id: Uuid) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let outcome = app.get_json(&format!("/commands/{command_id}")).await;
        if outcome["status"] != "pending" || tokio::time::Instant::now() > deadline {
            return outcome;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_queued_command_is_refused_when_its_issuer_may_not_issue_it() {
    let app = spawn_app().await;
    let campaign = app.create_campaign().await;
    let written = app.stored_events(&campaign).await.len();
    // A reader may not cancel: the seed route's rule, applied when the command runs.
    let by_reader = queue_cancellation(&app, &campaign, json!({"sub": "r", "role": "reader"})).await;
    let outcome = queued_outcome(&app, by_reader).await;
    assert_eq!(outcome["status"], "failed", "{outcome}");
    assert_eq!(outcome["problem"]["status"], 403, "{outcome}");
    assert_eq!(outcome["problem"]["code"], "auth.forbidden", "{outcome}");
    // An issuer that is no principal (no role): refused, not run as anyone.
    let unreadable = queue_cancellation(&app, &campaign, json!({"sub": "x"})).await;
    let outcome = queued_outcome(&app, unreadable).await;
    assert_eq!(outcome["status"], "failed", "{outcome}");
    assert_eq!(outcome["problem"]["code"], "command.invalid_issuer", "{outcome}");
    assert_eq!(
        app.stored_events(&campaign).await.len(),
        written,
        "nothing was cancelled"
    );
}

#[tokio::test]
async fn with_the_bff_open_legacy_clients_act_as_the_configured_principal() {
    let app = spawn_app_with(|settings| {
        settings.legacy_principal = Some(Principal::new("legacy-bff", Role::Admin));
    })
    .await;
    let anonymous = reqwest::Client::new();
    let response = anonymous
        .post(format!("{}/crear-campaign", app.address))
        .header("prefer", "wait=10")
        .json(&json!({"nombre": "Legacy", "presupuesto": 1, "divisa": "USD", "marca_id": "b-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let status: Value = response.json().await.unwrap();
    let campaign = status["aggregate_id"].as_str().unwrap();
    let stream = app.get_json(&format!("/campaigns/{campaign}/events")).await;
    assert_eq!(stream["items"][0]["metadata"]["principal_sub"], "legacy-bff");
    // The native routes still need a token.
    let native = anonymous
        .get(format!("{}/campaigns", app.address))
        .send()
        .await
        .unwrap();
    assert_problem(native, 401, "auth.missing_token").await;
}

#[tokio::test]
async fn the_openapi_document_declares_the_bearer_scheme_and_each_operations_security() {
    let app = spawn_app().await;
    let document = reqwest::get(format!("{}/openapi.json", app.address))
        .await
        .unwrap();
    let document: Value = document.json().await.unwrap();
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let rule = rule(&method, path);
            let security = &operation["security"];
            match rule.access {
                Access::Open => assert_eq!(security, &json!([]), "{method} {path}"),
                _ => {
                    assert_eq!(security, &json!([{"bearer": []}]), "{method} {path}");
                    assert!(operation["responses"]["401"].is_object(), "{method} {path}");
                    assert!(operation["responses"]["403"].is_object(), "{method} {path}");
                }
            }
        }
    }
}
