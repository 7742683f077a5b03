//! Property test: whatever body a client sends to any command endpoint, the answer
//! is never a 5xx (and never a panic, which would be a 500).

use crate::helpers::*;
use proptest::prelude::*;
use reqwest::Method;
use serde_json::Value;

/// Arbitrary JSON, biased towards the shapes our bodies have.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("USD")),
        Just(Value::from("influencer")),
        Just(Value::from("2026-12-01T00:00:00Z")),
        Just(Value::from("99999999999999999999.999")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        let keys = prop_oneof![
            Just("name".to_owned()),
            Just("brand_id".to_owned()),
            Just("budget".to_owned()),
            Just("amount".to_owned()),
            Just("currency".to_owned()),
            Just("participants".to_owned()),
            Just("partner_id".to_owned()),
            Just("kind".to_owned()),
            Just("profile".to_owned()),
            Just("email".to_owned()),
            Just("reason".to_owned()),
            Just("starts_at".to_owned()),
            Just("ends_at".to_owned()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A body: JSON, or raw bytes that are probably not JSON.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/campaigns"),
    ("POST", "/campaigns/{c}/participants"),
    ("DELETE", "/campaigns/{c}/participants/p-98765"),
    ("PUT", "/campaigns/{c}/budget"),
    ("PUT", "/campaigns/{c}/schedule"),
    ("POST", "/campaigns/{c}/activate"),
    ("POST", "/campaigns/{c}/cancel"),
    ("POST", "/partners"),
    ("PUT", "/partners/{p}/profile"),
    ("POST", "/partners/{p}/suspend"),
];

#[test]
fn no_command_body_ever_gets_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (app, campaign, partner) = runtime.block_on(async {
        let app = spawn_app().await;
        let campaign = app.create_campaign().await;
        let partner = app.register_partner().await;
        (app, campaign, partner)
    });

    let config = ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(endpoint in 0..ENDPOINTS.len(), body in body(), json_content_type in any::<bool>())| {
        let (method, path) = ENDPOINTS[endpoint];
        let path = path.replace("{c}", &campaign).replace("{p}", &partner);
        let status = runtime.block_on(async {
            let mut request = app.request(Method::from_bytes(method.as_bytes()).unwrap(), &path).body(body.clone());
            if json_content_type {
                request = request.header("content-type", "application/json");
            }
            request.send().await.unwrap().status()
        });
        prop_assert!(status.as_u16() < 500, "{} {} with {:?} answered {}", method, path, String::from_utf8_lossy(&body), status);
    });
    // Whatever the commands wrote, the projectors applied it (nothing a client sends
    // may stop a view).
    runtime.block_on(async {
        for name in ["campaigns", "partners"] {
            let status = app.wait_for_projection(name, |s| s["lag"] == 0).await;
            assert_eq!(status["state"], "running", "{status}");
        }
    });

    // Query strings: never a 5xx either.
    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(path in 0..QUERY_PATHS.len(), params in prop::collection::vec((query_key(), query_value()), 0..4))| {
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let path = format!("{}?{}", QUERY_PATHS[path].replace("{c}", &campaign).replace("{p}", &partner), query.join("&"));
        let status = runtime.block_on(async { app.request(Method::GET, &path).send().await.unwrap().status() });
        prop_assert!(status.as_u16() < 500, "GET {} answered {}", path, status);
    });
    drop(app);
}

const QUERY_PATHS: &[&str] = &[
    "/campaigns",
    "/campaigns/{c}",
    "/campaigns/{c}/events",
    "/partners",
    "/partners/{p}",
    "/projections",
];

fn query_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("brand_id".to_owned()),
        Just("status".to_owned()),
        Just("limit".to_owned()),
        Just("cursor".to_owned()),
        Just("min_position".to_owned()),
        Just("kind".to_owned()),
        Just("q".to_owned()),
        "[a-z]{1,6}",
    ]
}

/// Query values, percent-encoded or raw, including NUL and huge numbers.
fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("%00".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("-1".to_owned()),
        Just("0".to_owned()),
        Just("active".to_owned()),
        Just("%F0%9F%98%80".to_owned()),
        Just("%FF%FE".to_owned()),
        "[a-zA-Z0-9%_.-]{0,12}",
    ]
}
