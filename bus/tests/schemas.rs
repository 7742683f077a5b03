//! What the relay really publishes matches the JSON Schema files of the contract
//! (`contract/schemas/v1/`): one stored sample of every domain event type is mapped and
//! encoded, checked against its topic's schema, and every field it carries must be
//! documented. (That the files and the v1 types agree is `contract/tests/schemas.rs`.)

use bus::message::{encode, EventStream};
use chrono::{TimeZone, Utc};
use contract::v1::{
    self,
    schema::{Schemas, Topic},
};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use store::{LogCursor, RecordedEvent};
use uuid::Uuid;

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
    let schemas = Schemas::v1();
    let mut types_seen = BTreeSet::new();
    for event in samples() {
        // Samples are stored payloads as first written (1.0), read through the upcasters.
        let message = encode(&event, &aggregates::upcasters::all()).expect("mappable");
        let instance: Value = serde_json::from_slice(&message.payload).unwrap();
        let topic = match message.stream {
            EventStream::Campaigns => Topic::CampaignEvents,
            EventStream::Partners => Topic::PartnerEvents,
        };
        let errors = schemas.errors(topic, &instance);
        assert!(errors.is_empty(), "{instance}\n{errors:#?}");
        let undocumented = schemas.undocumented_fields(topic, &instance);
        assert!(undocumented.is_empty(), "undocumented fields: {undocumented:?}");
        types_seen.insert(instance["type"].as_str().unwrap_or_default().to_owned());
    }
    let all: BTreeSet<_> = v1::types::ALL.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(types_seen, all, "one sample of every v1 type");
}
