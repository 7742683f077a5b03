//! `/openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the request/response types, then made exact.
//!
//! The annotations say what each operation is; [`refine`] then adds, in one place,
//! what the attributes cannot say or would repeat on every operation:
//! - every 4xx/5xx answer is a problem (`application/problem+json`, [`error::Problem`]);
//! - the answers every operation can give whatever it is (a 408 request timeout, a 429
//!   rate limit, a 503 overload or database outage), and those every command can give
//!   (a 400 for a malformed header, a 409 `If-Match` mismatch, a 422 reused
//!   `Idempotency-Key`) or every body-taking operation (400, 413, 415);
//! - the exact text rules of the request bodies, derived from the domain's rules
//!   (trimmed text without control characters, ISO 4217 codes and their decimals),
//!   so that every body the document allows is one the server accepts;
//! - links from each creation's `aggregate_id` (and each command's `position`) to the
//!   operations on the created resource, so a client generator (or a stateful tester)
//!   can chain create → commands → queries.
//!
//! The contract test (`tests/api/contract.rs`) holds the server to this document.

use crate::campaigns::{commands as campaign_commands, queries as campaign_queries};
use crate::partners::{commands as partner_commands, queries as partner_queries};
use crate::state::AppState;
use crate::{access, admin, commands, error, health, metrics, money, seed};
use aggregates::money::Currency;
use auth::{Access, Rule};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Alpes Partners API", description = "Event-sourced campaigns and partners. Every command answers with the ids of the events it committed."),
    paths(
        campaign_commands::create_campaign, campaign_commands::add_participant,
        campaign_commands::remove_participant, campaign_commands::change_budget, campaign_commands::reschedule,
        campaign_commands::activate, campaign_commands::pause, campaign_commands::resume,
        campaign_commands::complete, campaign_commands::cancel,
        campaign_queries::list_campaigns, campaign_queries::get_campaign, campaign_queries::campaign_events,
        partner_commands::register_partner, partner_commands::update_profile, partner_commands::suspend,
        partner_commands::reinstate, partner_commands::deactivate,
        partner_queries::list_partners, partner_queries::get_partner, partner_queries::partner_events,
        admin::projection_status, admin::relay_status, admin::rebuild_projection, admin::retry_projection, admin::skip_event,
        health::health, health::ready, metrics::metrics,
        seed::routes::seed_create_campaign, seed::routes::seed_register_campaign,
        seed::routes::seed_create_partner, seed::routes::seed_register_partner,
        seed::routes::seed_register_conversion, seed::routes::seed_cancel_campaign,
        seed::routes::seed_delete_campaign, seed::routes::seed_list_campaigns,
        seed::routes::seed_get_campaign, seed::outcomes::command_status, seed::outcomes::command_consumers,
    ),
    components(schemas(error::Problem, commands::CommandAccepted, money::MoneyBody)),
    tags(
        (name = "campaigns", description = "Campaign commands"),
        (name = "partners", description = "Partner commands"),
        (name = "operations", description = "Health, readiness and projections"),
        (name = "seed", description = "The previous system's front door: its routes and bodies, unchanged; commands run asynchronously, `/commands/{id}` tells their outcome"),
    )
)]
pub struct ApiDoc;

/// The document, built once: it depends only on the code.
static DOCUMENT: LazyLock<Arc<Value>> = LazyLock::new(|| Arc::new(document()));

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(DOCUMENT.as_ref().clone()) }))
}

/// The exact document: utoipa's, refined.
pub fn document() -> Value {
    let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON");
    refine(&mut document);
    document
}

const PROBLEM_JSON: &str = "application/problem+json";

/// Whitespace as Rust's `str::trim` removes it (Unicode `White_Space`): the server
/// trims text fields, so any amount of it around a value is accepted.
const WS: &str = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters the text fields refuse (all but tab, line feed and carriage
/// return; see `aggregates::text::trimmed_within`).
const CTRL: &str = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f";

/// A text field the domain trims, then wants `min` (0 or 1) to `max` characters long
/// without control characters (but tabs and line breaks) once trimmed.
fn trimmed_text(min: usize, max: usize) -> String {
    let core = format!(
        "[^{WS}{CTRL}](?:[^{CTRL}]{{0,{}}}[^{WS}{CTRL}])?",
        max.saturating_sub(2)
    );
    let core = if min == 0 { format!("(?:{core})?") } else { core };
    format!("^[{WS}]*{core}[{WS}]*$")
}

/// A word matched in any ASCII case, surrounded by any trimmed whitespace.
fn any_case(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|word| {
            word.chars()
                .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()))
                .collect()
        })
        .collect();
    format!("^[{WS}]*(?:{})[{WS}]*$", alternatives.join("|"))
}

/// `influencer` or `affiliate`, any case (`PartnerKind::parse`).
fn partner_kind() -> Value {
    json!({
        "type": "string",
        "pattern": any_case(&["influencer", "affiliate"]),
        "description": "`influencer` or `affiliate`, in any case (surrounding spaces are ignored)",
        "examples": ["influencer", "Affiliate"],
    })
}

/// The contact email a partner may give (`normalize_email`): empty or null for none.
/// The server also takes a few rarer forms (non-ASCII local parts, domains of more
/// than three labels); the document describes the common one.
fn email() -> Value {
    let label = |max: usize| format!("[A-Za-z0-9](?:[A-Za-z0-9-]{{0,{}}}[A-Za-z0-9])?", max - 2);
    // At most 64 + 1 + 63 + 1 + 63 + 1 + 61 = 254 bytes, the limit the server enforces.
    let address = format!(
        "[!-?A-~]{{1,64}}@{}\\.{}(?:\\.{})?",
        label(63),
        label(63),
        label(61)
    );
    json!({
        "type": ["string", "null"],
        "pattern": format!("^[{WS}]*(?:{address})?[{WS}]*$"),
        "description": "Optional contact email (empty or null: none); the domain is stored lowercased",
        "examples": ["alice@example.com"],
    })
}

/// The ISO 4217 codes the server knows, grouped by their number of decimals, read
/// from the domain's own table (every three-letter word is tried once).
fn currencies_by_decimals() -> BTreeMap<u32, Vec<&'static str>> {
    let mut groups: BTreeMap<u32, Vec<&'static str>> = BTreeMap::new();
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            for c in b'A'..=b'Z' {
                let code = [a, b, c];
                let code = std::str::from_utf8(&code).unwrap_or_default();
                if let Ok(currency) = Currency::parse(code) {
                    groups
                        .entry(currency.minor_units())
                        .or_default()
                        .push(currency.code());
                }
            }
        }
    }
    groups
}

/// A positive amount with at most `decimals` decimals (trailing zeros aside) and at
/// most 15 integer digits, as `Money::parse` reads it: a decimal string, or a JSON
/// integer.
fn amount(decimals: u32) -> Value {
    let integer = "0*[1-9][0-9]{0,14}";
    let text = match decimals {
        0 => format!("{integer}(?:\\.0+)?"),
        n => format!(
            "{integer}(?:\\.[0-9]{{1,{n}}}0*)?|0+\\.[0-9]{{0,{}}}[1-9]0*",
            n - 1
        ),
    };
    json!({
        "anyOf": [
            {"type": "string", "pattern": format!("^[{WS}]*(?:{text})[{WS}]*$")},
            {"type": "integer", "minimum": 1, "maximum": 999_999_999_999_999_i64},
        ],
        "description": "An exact decimal amount, greater than zero, with at most the currency's \
            decimals: a string (preferred) or a JSON number",
        "examples": ["10000.00"],
    })
}

/// The money body: one alternative per number of decimals, each naming its currencies.
fn money_body() -> Value {
    let alternatives: Vec<Value> = currencies_by_decimals()
        .into_iter()
        .map(|(decimals, codes)| {
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["amount", "currency"],
                "properties": {
                    "amount": amount(decimals),
                    "currency": {
                        "type": "string",
                        "pattern": any_case(&codes),
                        "description": format!("An ISO 4217 code, any case, of a currency with {decimals} decimals"),
                        "examples": [codes[0]],
                    },
                },
            })
        })
        .collect();
    json!({
        "description": "An amount of money in an ISO 4217 currency, with no more decimals than \
            the currency has (`\"10000.00\"` USD, `\"5000\"` JPY). Never stored as a float.",
        "anyOf": alternatives,
        "examples": [{"amount": "10000.00", "currency": "USD"}],
    })
}

/// `If-Match`: a version as this API's ETags are (`"3"`), a bare number, or `*`.
const IF_MATCH: &str = r#"^(?:\*|"\+?0*[0-9]{1,19}"|\+?0*[0-9]{1,19})$"#;

/// `x-request-id` as answered: 1 to 64 of `[A-Za-z0-9._-]` (a client's, or a UUID).
const REQUEST_ID: &str = r"^[A-Za-z0-9._-]{1,64}$";

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
const IDEMPOTENCY_KEY: &str = r"^[!-~]{1,255}$";

/// Makes utoipa's document exact; see the module documentation.
fn refine(document: &mut Value) {
    refine_schemas(document);
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            refine_operation(path, operation);
        }
    }
    add_links(document);
    declare_security(document);
}

/// The bearer scheme, and each operation's security from the access rules
/// ([`access::RULES`], the table the server applies): no security for the open ones,
/// the bearer token, the roles that may call, and the 401 and 403 for the others.
fn declare_security(document: &mut Value) {
    document["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT with `sub`, `role` (admin, brand, partner, tracker, reader), `brand_id` for a \
                brand, `partner_id` for a partner, and `exp`. A brand sees its own brand's campaigns, a partner \
                itself and the campaigns that list it; what a caller may not see answers 404."
        }
    });
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            let Ok(method) = method.to_uppercase().parse::<axum::http::Method>() else {
                continue;
            };
            let access = Rule::access_of(access::RULES, &method, path);
            let Some(operation) = operation.as_object_mut() else {
                continue;
            };
            if matches!(access, Access::Open) {
                operation.insert("security".into(), json!([]));
                continue;
            }
            operation.insert("security".into(), json!([{"bearer": []}]));
            let roles: Vec<&str> = access.roles().iter().map(|role| role.as_str()).collect();
            let mut note = format!("Roles: {}.", roles.join(", "));
            if matches!(access, Access::Legacy(_)) {
                note.push_str(
                    " Without a token when the server keeps the seed's routes open (ALPES_BFF_OPEN).",
                );
            }
            let description = operation
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let description = match description {
                "" => note,
                text => format!("{text}\n\n{note}"),
            };
            operation.insert("description".into(), Value::String(description));
            let is_command = parameters(operation).iter().any(|p| p["name"] == "If-Match");
            let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            let challenge = |required: bool, description: &str| json!({"WWW-Authenticate": {"description": description, "required": required, "schema": {"type": "string"}}});
            let mut unauthorized =
                problem("No token, or one that does not verify (expired, bad signature, ...)");
            unauthorized["headers"] = challenge(
                true,
                "`Bearer realm=\"alpes\"`, with `error=\"invalid_token\"` for a bad token",
            );
            responses.entry("401").or_insert(unauthorized);
            let mut forbidden = problem("The token's role may not call this operation (or not on this body)");
            forbidden["headers"] = challenge(
                false,
                "`Bearer realm=\"alpes\", error=\"insufficient_scope\"` when the role may not call it",
            );
            responses.entry("403").or_insert(forbidden);
            // The headers every answer carries, on these two as on the others.
            declare_answer_headers(responses, is_command);
        }
    }
}

/// The body schemas' text rules (see [`trimmed_text`]).
fn refine_schemas(document: &mut Value) {
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    schemas.insert("MoneyBody".into(), money_body());
    let text = |min, max, description: &str| json!({"type": "string", "pattern": trimmed_text(min, max), "description": description});
    let rules: &[(&str, &str, Value)] = &[
        (
            "CreateCampaignRequest",
            "name",
            text(1, 100, "1 to 100 characters once trimmed"),
        ),
        (
            "CreateCampaignRequest",
            "brand_id",
            text(
                1,
                64,
                "The brand running the campaign, 1 to 64 characters once trimmed",
            ),
        ),
        (
            "ParticipantBody",
            "partner_id",
            text(
                1,
                64,
                "1 to 64 characters once trimmed; unique within the campaign",
            ),
        ),
        ("ParticipantBody", "kind", partner_kind()),
        (
            "ParticipantBody",
            "name",
            text(1, 100, "1 to 100 characters once trimmed"),
        ),
        (
            "ParticipantBody",
            "profile",
            text(0, 1000, "Up to 1000 characters once trimmed"),
        ),
        (
            "CancelRequest",
            "reason",
            text(
                1,
                500,
                "Why the campaign is cancelled, 1 to 500 characters once trimmed",
            ),
        ),
        (
            "SuspendRequest",
            "reason",
            text(
                1,
                500,
                "Why the partner is suspended, 1 to 500 characters once trimmed",
            ),
        ),
        (
            "PartnerProfileBody",
            "name",
            text(1, 100, "1 to 100 characters once trimmed"),
        ),
        ("PartnerProfileBody", "kind", partner_kind()),
        (
            "PartnerProfileBody",
            "profile",
            text(0, 1000, "Up to 1000 characters once trimmed"),
        ),
        ("PartnerProfileBody", "email", email()),
        // The seed's bodies are taken as its clients send them: the domain's rules on
        // their values are checked when the command runs (a failed outcome, not a 4xx).
        (
            "SeedCampaign",
            "presupuesto",
            json!({"anyOf": [{"type": "number"}, {"type": "string"}],
                "description": "The budget in `divisa`: a JSON number (10000, 10000.5) or a decimal string",
                "examples": [10000]}),
        ),
        (
            "SeedConversion",
            "fecha",
            json!({"type": ["integer", "null"],
                "minimum": *seed::FECHA_RANGE.start(), "maximum": *seed::FECHA_RANGE.end(),
                "description": "When it happened, in epoch milliseconds (years 1 to 9999); now if absent",
                "examples": [1795341600000i64]}),
        ),
    ];
    for (schema, property, rule) in rules {
        // The document is built from the code alone: a rule naming a schema or field
        // that is gone is a renaming this table missed, and must not pass silently
        // (the document's tests build it, so they fail here).
        let slot = schemas
            .get_mut(*schema)
            .and_then(|s| s.pointer_mut(&format!("/properties/{property}")))
            .unwrap_or_else(|| {
                panic!("the text rule for {schema}.{property} names no field of the document")
            });
        merge(slot, rule.clone());
    }
}

/// Overwrites `target`'s keys with `patch`'s (and drops a `$ref` or `anyOf` the patch
/// replaces).
fn merge(target: &mut Value, patch: Value) {
    if let (Some(target), Value::Object(patch)) = (target.as_object_mut(), patch) {
        for (key, value) in patch {
            target.insert(key, value);
        }
    }
}

/// A problem response.
fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

/// A problem response that asks the client to come back (`Retry-After`, seconds).
fn retry_problem(description: &str) -> Value {
    let mut response = problem(description);
    response["headers"] = json!({"Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }});
    response
}

fn refine_operation(path: &str, operation: &mut Value) {
    let Some(operation) = operation.as_object_mut() else {
        return;
    };
    let has_body = operation.contains_key("requestBody");
    let is_command = parameters(operation).iter().any(|p| p["name"] == "If-Match");
    let has_query = parameters(operation).iter().any(|p| p["in"] == "query");
    let has_path_params = path.contains('{');

    refine_parameters(operation);

    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    // Every error answer is a problem, whatever the annotation said.
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            let description = response["description"].as_str().unwrap_or_default().to_owned();
            let retry = status == "503" || status == "429";
            *response = if retry {
                retry_problem(&description)
            } else {
                problem(&description)
            };
        }
    }
    let mut add = |status: &str, response: Value| {
        responses.entry(status.to_owned()).or_insert(response);
    };
    if has_body {
        add(
            "400",
            problem("Malformed JSON, wrong types or unknown fields (`field` names the offender)"),
        );
        add("413", problem("The body is larger than 64 KiB"));
        add(
            "415",
            problem("The body is not JSON (`Content-Type: application/json`)"),
        );
    }
    if is_command {
        add("400", problem("A malformed `If-Match` or `Idempotency-Key`"));
        add(
            "409",
            problem("`If-Match` names another version, or concurrent writers kept winning"),
        );
        add(
            "422",
            problem("A rule is violated, or the `Idempotency-Key` was used for another request"),
        );
    }
    if has_query {
        add(
            "400",
            problem("A malformed query parameter, or a `min_position` beyond the end of the log"),
        );
    }
    if has_path_params {
        add("400", problem("A path parameter that cannot be decoded"));
        add("404", problem("No such resource"));
    }
    if path != "/health" && path != "/openapi.json" {
        add("503", retry_problem("The database is unavailable, or the service is overloaded; retry after `Retry-After` seconds"));
    } else {
        add(
            "503",
            retry_problem("The service is overloaded; retry after `Retry-After` seconds"),
        );
    }
    add(
        "408",
        problem("The request body did not arrive within the server's body timeout"),
    );
    add(
        "429",
        retry_problem("Too many requests from this client; retry after `Retry-After` seconds"),
    );
    declare_answer_headers(responses, is_command);
}

/// The headers the server puts on answers (`src/server.rs` on every one; the command
/// answers in `commands.rs`), declared required so that the contract test checks
/// they are really sent.
fn declare_answer_headers(responses: &mut Map<String, Value>, is_command: bool) {
    let header = |description: &str, schema: Value| json!({"description": description, "required": true, "schema": schema});
    for (status, response) in responses.iter_mut() {
        let headers = response
            .as_object_mut()
            .expect("a response is an object")
            .entry("headers")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("headers is an object");
        headers.insert(
            "x-request-id".into(),
            header(
                "The request's id: the client's own when it was 1 to 64 of `[A-Za-z0-9._-]`, else a new one",
                json!({"type": "string", "pattern": REQUEST_ID}),
            ),
        );
        headers.insert(
            "X-Content-Type-Options".into(),
            header("Always `nosniff`", json!({"type": "string", "const": "nosniff"})),
        );
        headers.insert(
            "Cache-Control".into(),
            header(
                "Always `no-store`: answers change with every write",
                json!({"type": "string", "const": "no-store"}),
            ),
        );
        if is_command && status.starts_with('2') {
            headers.insert(
                "ETag".into(),
                header(
                    "The aggregate's new version, for `If-Match`",
                    json!({"type": "string", "pattern": r#"^"[0-9]+"$"#}),
                ),
            );
        }
        if status == "201" {
            headers.insert(
                "Location".into(),
                header(
                    "The created resource",
                    json!({"type": "string", "pattern": "^/(campaigns|partners)/[0-9a-f-]{36}$"}),
                ),
            );
        }
    }
}

fn parameters(operation: &Map<String, Value>) -> Vec<Value> {
    operation
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Header formats, and the query parameters' text rules; `traceparent` on every
/// operation.
fn refine_parameters(operation: &mut Map<String, Value>) {
    let parameters = operation
        .entry("parameters")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("parameters is an array");
    for parameter in parameters.iter_mut() {
        let name = parameter["name"].as_str().unwrap_or_default().to_owned();
        let location = parameter["in"].as_str().unwrap_or_default().to_owned();
        let schema = &mut parameter["schema"];
        match (location.as_str(), name.as_str()) {
            ("header", "If-Match") => merge(
                schema,
                json!({"type": "string", "pattern": IF_MATCH, "examples": ["\"3\""]}),
            ),
            ("header", "Idempotency-Key") => merge(
                schema,
                json!({"type": "string", "pattern": IDEMPOTENCY_KEY, "examples": ["7f1c2a9e-retry-1"]}),
            ),
            ("query", "kind") => *schema = partner_kind(),
            // The projections this process runs; another name is a 404.
            ("path", "name") => merge(
                schema,
                json!({"enum": [projections::campaigns::NAME, projections::partners::NAME]}),
            ),
            _ => {}
        }
    }
    parameters.push(json!({
        "name": "x-request-id",
        "in": "header",
        "required": false,
        "description": "The client's id for this request, echoed in the answer and the logs when \
            it is 1 to 64 of `[A-Za-z0-9._-]`; any other value is replaced by a new id, not refused.",
        "schema": {"type": "string", "examples": ["7f1c2a9e-retry-1"]},
    }));
    parameters.push(json!({
        "name": "traceparent",
        "in": "header",
        "required": false,
        "description": "W3C Trace Context (`00-<32 hex>-<16 hex>-<2 hex>`). Optional; as the Trace \
            Context specification asks, a malformed one is ignored, not refused.",
        "schema": {"type": "string", "examples": ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]},
    }));
}

/// Links from creations (and commands) to the operations on the resource, by the
/// operation ids utoipa gives (the handlers' names).
fn add_links(document: &mut Value) {
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return;
    };
    // Every operation under `/campaigns/{id}` or `/partners/{id}`, with its parameters.
    let mut operations: Vec<(String, String, Vec<String>)> = Vec::new();
    for (path, item) in paths {
        for operation in item.as_object().into_iter().flat_map(|item| item.values()) {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            let names = parameters(operation.as_object().expect("an operation"))
                .iter()
                .filter(|p| p["in"] == "path" || p["name"] == "min_position")
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect();
            operations.push((path.clone(), id.to_owned(), names));
        }
    }
    let mut links: Vec<(String, String, String, Value)> = Vec::new();
    for collection in ["/campaigns", "/partners"] {
        let resource = format!("{collection}/{{id}}");
        for (path, target, names) in &operations {
            if !(path == &resource || path.starts_with(&format!("{resource}/"))) {
                continue;
            }
            let mut parameters = Map::new();
            let mut complete = true;
            for name in names {
                let value = match name.as_str() {
                    "id" => "$response.body#/aggregate_id",
                    "min_position" => "$response.body#/position",
                    _ => {
                        complete = false;
                        break;
                    }
                };
                parameters.insert(name.clone(), json!(value));
            }
            if !complete {
                continue;
            }
            let link = json!({"operationId": target, "parameters": parameters});
            links.push((collection.to_owned(), "post".into(), "201".into(), link.clone()));
        }
    }
    // A participant added can be removed.
    links.push((
        "/campaigns/{id}/participants".into(),
        "post".into(),
        "200".into(),
        json!({"operationId": "remove_participant", "parameters": {
            "id": "$request.path.id", "partner_id": "$request.body#/partner_id"}}),
    ));
    let paths = document["paths"].as_object_mut().expect("paths");
    for (path, method, status, link) in links {
        let Some(response) = paths
            .get_mut(&path)
            .and_then(|item| item.pointer_mut(&format!("/{method}/responses/{status}")))
        else {
            continue;
        };
        let name = link["operationId"].as_str().unwrap_or_default().to_owned();
        response["links"]
            .as_object_mut()
            .map(|links| links.insert(name.clone(), link.clone()))
            .unwrap_or_else(|| {
                response["links"] = json!({ name: link });
                None
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_in_the_query() {
        let document = document();
        let list = &document["paths"]["/campaigns"]["get"]["parameters"];
        let limit = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["in"], "query");
        assert_eq!(limit["schema"]["minimum"], 1);
        assert_eq!(limit["schema"]["maximum"], 100);
    }

    #[test]
    fn problems_are_declared_as_problem_json() {
        let document = document();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            response["content"][PROBLEM_JSON].is_object(),
                            "{method} {path} {status}: {response}"
                        );
                        assert!(response["content"].get("application/json").is_none());
                    }
                }
            }
        }
    }

    #[test]
    fn every_answer_declares_the_headers_the_server_sends() {
        let document = document();
        let mut creations = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    let headers = &response["headers"];
                    for name in ["x-request-id", "X-Content-Type-Options", "Cache-Control"] {
                        assert_eq!(
                            headers[name]["required"], true,
                            "{method} {path} {status}: {name}"
                        );
                    }
                    if status == "201" {
                        creations += 1;
                        assert_eq!(headers["Location"]["required"], true, "{method} {path}");
                        assert_eq!(headers["ETag"]["required"], true, "{method} {path}");
                    }
                }
                let reads_request_id = operation["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "x-request-id" && p["in"] == "header");
                assert!(reads_request_id, "{method} {path} declares x-request-id");
            }
        }
        assert_eq!(creations, 2, "POST /campaigns and POST /partners");
    }

    #[test]
    fn body_fields_carry_the_domain_text_rules() {
        let document = document();
        let name = &document["components"]["schemas"]["CreateCampaignRequest"]["properties"]["name"];
        let pattern = name["pattern"].as_str().expect("name has a pattern");
        assert_eq!(pattern, trimmed_text(1, 100));
    }

    #[test]
    fn currencies_come_from_the_domain_table() {
        let groups = currencies_by_decimals();
        assert!(groups[&2].contains(&"USD"));
        assert!(groups[&0].contains(&"JPY"));
        assert!(groups[&3].contains(&"BHD"));
    }

    #[test]
    fn creations_link_to_the_operations_on_the_created_resource() {
        let document = document();
        let links = &document["paths"]["/campaigns"]["post"]["responses"]["201"]["links"];
        assert_eq!(
            links["activate"]["parameters"]["id"],
            "$response.body#/aggregate_id"
        );
        assert_eq!(
            links["get_campaign"]["parameters"]["min_position"],
            "$response.body#/position"
        );
    }
}
