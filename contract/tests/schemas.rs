//! The JSON Schema files in `contract/schemas/v1/` and the v1 types say the same thing: the
//! files list exactly the v1 types, and one event of every type, built from the Rust types,
//! matches its topic's schema, declares no undocumented field and decodes back to itself.
//! (What the relay really publishes is checked against the same files in
//! `bus/tests/schemas.rs`.)

use chrono::{TimeZone, Utc};
use contract::v1::schema::{Schemas, Topic};
use contract::v1::{self, CampaignEvent as C, CloudEvent, IntegrationEvent, PartnerEvent as P};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use uuid::Uuid;

/// One `data` of every v1 type.
fn samples() -> Vec<IntegrationEvent> {
    let campaign_id = || "0190a5c8-7b6e-7c3a-9f0e-2d4b5a6c7d8e".to_owned();
    let partner_id = || "0190a5c8-7b6e-7c3a-9f0e-2d4b5a6c7d8f".to_owned();
    let budget = v1::Money {
        amount: "10000.00".into(),
        currency: "USD".into(),
    };
    let schedule = v1::Schedule {
        starts_at: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        ends_at: Utc.with_ymd_and_hms(2026, 12, 31, 0, 0, 0).unwrap(),
    };
    let status = || v1::CampaignStatusChanged {
        campaign_id: campaign_id(),
    };
    let campaign = [
        C::Created(v1::CampaignCreated {
            campaign_id: campaign_id(),
            name: "Summer".into(),
            brand_id: "brand".into(),
            budget: budget.clone(),
            schedule: Some(schedule),
        }),
        C::Created(v1::CampaignCreated {
            campaign_id: campaign_id(),
            name: "Summer".into(),
            brand_id: "brand".into(),
            budget: budget.clone(),
            schedule: None,
        }),
        C::ParticipantAdded(v1::ParticipantAdded {
            campaign_id: campaign_id(),
            partner_id: partner_id(),
            kind: v1::PartnerKind::Affiliate,
            name: "Bob".into(),
            profile: String::new(),
        }),
        C::ParticipantRemoved(v1::ParticipantRemoved {
            campaign_id: campaign_id(),
            partner_id: partner_id(),
        }),
        C::BudgetChanged(v1::BudgetChanged {
            campaign_id: campaign_id(),
            budget: v1::Money {
                amount: "5000".into(),
                currency: "JPY".into(),
            },
        }),
        C::Rescheduled(v1::CampaignRescheduled {
            campaign_id: campaign_id(),
            schedule,
        }),
        C::Activated(status()),
        C::Paused(status()),
        C::Resumed(status()),
        C::Completed(status()),
        C::Cancelled(v1::CampaignCancelled {
            campaign_id: campaign_id(),
            reason: "budget cut".into(),
        }),
    ];
    let partner = [
        P::Registered(v1::PartnerRegistered {
            partner_id: partner_id(),
            name: "Alice".into(),
            kind: v1::PartnerKind::Influencer,
            profile: "200k".into(),
        }),
        P::ProfileUpdated(v1::PartnerProfileUpdated {
            partner_id: partner_id(),
            name: "Alice".into(),
            kind: v1::PartnerKind::Influencer,
            profile: "300k".into(),
        }),
        P::Suspended(v1::PartnerSuspended {
            partner_id: partner_id(),
            reason: "fraud".into(),
        }),
        P::Reinstated(v1::PartnerStatusChanged {
            partner_id: partner_id(),
        }),
        P::Deactivated(v1::PartnerStatusChanged {
            partner_id: partner_id(),
        }),
    ];
    campaign
        .into_iter()
        .map(IntegrationEvent::Campaign)
        .chain(partner.into_iter().map(IntegrationEvent::Partner))
        .collect()
}

fn envelope(data: IntegrationEvent) -> CloudEvent<IntegrationEvent> {
    let subject = match &data {
        IntegrationEvent::Campaign(event) => event.campaign_id().to_owned(),
        IntegrationEvent::Partner(event) => event.partner_id().to_owned(),
    };
    CloudEvent {
        specversion: v1::SPEC_VERSION.into(),
        id: Uuid::now_v7(),
        source: data.source().into(),
        event_type: data.event_type().into(),
        subject,
        time: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
        datacontenttype: v1::DATA_CONTENT_TYPE.into(),
        aggregatesequence: 1,
        correlationid: None,
        traceparent: None,
        data,
    }
}

#[test]
fn every_v1_type_matches_its_topic_schema_documents_every_field_and_decodes_back() {
    let schemas = Schemas::v1();
    let mut types_seen = BTreeSet::new();
    for data in samples() {
        let topic = match data {
            IntegrationEvent::Campaign(_) => Topic::CampaignEvents,
            IntegrationEvent::Partner(_) => Topic::PartnerEvents,
        };
        let event = envelope(data);
        let payload = serde_json::to_vec(&event).unwrap();
        let instance: Value = serde_json::from_slice(&payload).unwrap();
        let errors = schemas.errors(topic, &instance);
        assert!(errors.is_empty(), "{instance}\n{errors:#?}");
        let undocumented = schemas.undocumented_fields(topic, &instance);
        assert!(undocumented.is_empty(), "undocumented fields: {undocumented:?}");
        assert_eq!(v1::decode(&payload).unwrap(), event);
        types_seen.insert(event.event_type);
    }
    let all: BTreeSet<_> = v1::types::ALL.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(types_seen, all, "one sample of every v1 type");
}

#[test]
fn the_schemas_list_exactly_the_v1_types() {
    let all: BTreeSet<_> = v1::types::ALL.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(Schemas::v1().listed_types(), all);
}

#[test]
fn the_checker_catches_a_wrong_event() {
    let schemas = Schemas::v1();
    let wrong = json!({
        "specversion": "1.0", "id": "x", "source": "/alpes/campaigns",
        "type": "alpes.campaign.activated.v1", "subject": "c", "time": "t",
        "datacontenttype": "application/json", "aggregatesequence": 1,
        "data": {"campaign": "c"}
    });
    assert!(!schemas.errors(Topic::CampaignEvents, &wrong).is_empty());
    assert_eq!(
        schemas.undocumented_fields(Topic::CampaignEvents, &wrong),
        ["alpes.campaign.activated.v1: campaign"]
    );
    // A partner event is not a message of the campaign topic.
    let partner = json!({"type": "alpes.partner.reinstated.v1", "data": {"partner_id": "p"}});
    assert!(!schemas.errors(Topic::CampaignEvents, &partner).is_empty());
    assert!(!schemas
        .undocumented_fields(Topic::CampaignEvents, &partner)
        .is_empty());
}
