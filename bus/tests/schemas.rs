//! The JSON Schema files in `bus/schemas/v1/` describe what the relay really publishes:
//! one sample of every event type is encoded and checked against its topic's schema, every
//! field it carries must be documented, and the schemas list exactly the v1 types.
//!
//! The checker below implements the part of JSON Schema these files use (`$ref`, `allOf`,
//! `oneOf`, `type`, `const`, `enum`, `required`, `properties`); `pattern` and `format` are
//! documentation only here.

use bus::message::{encode, EventStream};
use bus::v1;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use store::{LogCursor, RecordedEvent};
use uuid::Uuid;

struct Schemas {
    envelope: Value,
    campaign: Value,
    partner: Value,
}

fn load(name: &str) -> Value {
    let path = format!("{}/schemas/v1/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn schemas() -> Schemas {
    Schemas {
        envelope: load("cloudevent.schema.json"),
        campaign: load("campaign-events.schema.json"),
        partner: load("partner-events.schema.json"),
    }
}

impl Schemas {
    /// Errors of `instance` against `schema` (whose local `$ref`s point into `root`).
    fn check(&self, root: &Value, schema: &Value, instance: &Value, path: &str, errors: &mut Vec<String>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            if reference == "urn:alpes:schema:v1:cloudevent" {
                return self.check(&self.envelope, &self.envelope, instance, path, errors);
            }
            let name = reference.strip_prefix("#/$defs/").expect("a local $ref");
            return self.check(root, &root["$defs"][name], instance, path, errors);
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.check(root, part, instance, path, errors);
        }
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let matching = branches
                .iter()
                .filter(|branch| {
                    let mut branch_errors = Vec::new();
                    self.check(root, branch, instance, path, &mut branch_errors);
                    branch_errors.is_empty()
                })
                .count();
            if matching != 1 {
                errors.push(format!("{path}: {matching} oneOf branches match"));
            }
        }
        if let Some(expected) = schema.get("const") {
            if expected != instance {
                errors.push(format!("{path}: {instance} is not {expected}"));
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(instance) {
                errors.push(format!("{path}: {instance} not in {options:?}"));
            }
        }
        if let Some(expected) = schema.get("type").and_then(Value::as_str) {
            let ok = match expected {
                "object" => instance.is_object(),
                "string" => instance.is_string(),
                "integer" => instance.is_i64() || instance.is_u64(),
                "null" => instance.is_null(),
                other => panic!("type {other} not supported by this checker"),
            };
            if !ok {
                errors.push(format!("{path}: {instance} is not of type {expected}"));
            }
        }
        let Some(object) = instance.as_object() else {
            return;
        };
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{path}: {name} is missing"));
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                if let Some(value) = object.get(name) {
                    self.check(root, property, value, &format!("{path}.{name}"), errors);
                }
            }
        }
    }

    /// Every field of `data` must be declared by the `$defs` entry its type refers to.
    fn undocumented_fields(root: &Value, event_type: &str, data: &Value) -> Vec<String> {
        let branch = root["oneOf"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|branch| branch["properties"]["type"]["const"] == event_type)
            .unwrap_or_else(|| panic!("{event_type} is not in the schema"));
        let reference = branch["properties"]["data"]["$ref"].as_str().unwrap_or_default();
        let name = reference.strip_prefix("#/$defs/").unwrap_or_default();
        let declared = &root["$defs"][name]["properties"];
        data.as_object()
            .into_iter()
            .flatten()
            .filter(|(field, _)| declared.get(field.as_str()).is_none())
            .map(|(field, _)| format!("{event_type}: {field}"))
            .collect()
    }
}

/// A stored domain event, as the relay reads it.
fn recorded(aggregate_type: &str, payload: Value) -> RecordedEvent {
    let event_type = match &payload {
        Value::String(name) => name.clone(),
        Value::Object(map) => map.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    RecordedEvent {
        cursor: LogCursor {
            transaction_id: 1,
            position: 1,
        },
        event_id: Uuid::now_v7(),
        aggregate_type: aggregate_type.into(),
        aggregate_id: "0190a5c8-7b6e-7c3a-9f0e-2d4b5a6c7d8e".into(),
        sequence: 1,
        event_type,
        event_version: "1.0".into(),
        payload,
        metadata: json!({}),
        recorded_at: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
    }
}

/// One stored event of every domain event type.
fn samples() -> Vec<RecordedEvent> {
    let budget = json!({"amount": "10000.00", "currency": "USD"});
    let schedule = json!({"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-12-31T00:00:00Z"});
    let profile = json!({"name": "Alice", "kind": "influencer", "profile": "200k", "email": "a@example.com"});
    let campaign = [
        json!({"CampaignCreated": {"name": "S", "brand_id": "b", "budget": budget, "schedule": schedule}}),
        json!({"CampaignCreated": {"name": "S", "brand_id": "b", "budget": budget, "schedule": null}}),
        json!({"ParticipantAdded": {"participant": {"partner_id": "p", "kind": "affiliate", "name": "B", "profile": ""}}}),
        json!({"ParticipantRemoved": {"partner_id": "p"}}),
        json!({"BudgetChanged": {"budget": {"amount": "5000", "currency": "JPY"}}}),
        json!({ "CampaignRescheduled": { "schedule": schedule } }),
        json!("CampaignActivated"),
        json!("CampaignPaused"),
        json!("CampaignResumed"),
        json!("CampaignCompleted"),
        json!({"CampaignCancelled": {"reason": "budget cut"}}),
    ];
    let partner = [
        json!({ "PartnerRegistered": profile }),
        json!({ "PartnerProfileUpdated": profile }),
        json!({"PartnerSuspended": {"reason": "fraud"}}),
        json!("PartnerReinstated"),
        json!("PartnerDeactivated"),
    ];
    campaign
        .into_iter()
        .map(|payload| recorded("Campaign", payload))
        .chain(partner.into_iter().map(|payload| recorded("Partner", payload)))
        .collect()
}

#[test]
fn every_published_event_matches_its_topic_schema_and_every_field_is_documented() {
    let schemas = schemas();
    let mut types_seen = BTreeSet::new();
    for event in samples() {
        // Samples are stored payloads as first written (1.0), read through the upcasters.
        let message = encode(&event, &aggregates::upcasters::all()).expect("mappable");
        let instance: Value = serde_json::from_slice(&message.payload).unwrap();
        let root = match message.stream {
            EventStream::Campaigns => &schemas.campaign,
            EventStream::Partners => &schemas.partner,
        };
        let mut errors = Vec::new();
        schemas.check(root, root, &instance, "$", &mut errors);
        assert!(errors.is_empty(), "{instance}\n{errors:#?}");
        let event_type = instance["type"].as_str().unwrap_or_default();
        let undocumented = Schemas::undocumented_fields(root, event_type, &instance["data"]);
        assert!(undocumented.is_empty(), "undocumented fields: {undocumented:?}");
        types_seen.insert(event_type.to_owned());
    }
    let all: BTreeSet<_> = v1::types::ALL.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(types_seen, all, "one sample of every v1 type");
}

#[test]
fn the_schemas_list_exactly_the_v1_types() {
    let schemas = schemas();
    let listed: BTreeSet<String> = [&schemas.campaign, &schemas.partner]
        .into_iter()
        .flat_map(|root| root["oneOf"].as_array().cloned().unwrap_or_default())
        .map(|branch| {
            branch["properties"]["type"]["const"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let all: BTreeSet<_> = v1::types::ALL.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(listed, all);
}

#[test]
fn the_checker_catches_a_wrong_event() {
    let schemas = schemas();
    let wrong = json!({
        "specversion": "1.0", "id": "x", "source": "/alpes/campaigns",
        "type": "alpes.campaign.activated.v1", "subject": "c", "time": "t",
        "datacontenttype": "application/json", "aggregatesequence": 1,
        "data": {"campaign": "c"}
    });
    let mut errors = Vec::new();
    schemas.check(&schemas.campaign, &schemas.campaign, &wrong, "$", &mut errors);
    assert!(!errors.is_empty());
}
