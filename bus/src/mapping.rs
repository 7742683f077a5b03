//! Domain events to integration events: the one place where the stored shape of an event
//! meets its public contract ([`contract::v1`]).
//!
//! Kept apart from any transport so the same mapping feeds Pulsar today and the in-process
//! bus tomorrow, and so it is tested without a broker.

use aggregates::campaign::{Campaign, CampaignEvent};
use aggregates::partner::{Partner, PartnerEvent};
use aggregates::{Money, PartnerKind, Schedule};
use cqrs_es::persist::{EventUpcaster, SemanticVersion, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent};
use observability::TRACEPARENT;
use serde::Deserialize;
use std::str::FromStr;
use store::{RecordedEvent, CORRELATION_ID};

use contract::v1;

/// The aggregate types as stored in the log (`Aggregate::TYPE`), as constants so they can be
/// matched on.
const CAMPAIGN: &str = Campaign::TYPE;
const PARTNER: &str = Partner::TYPE;

/// Why a stored event cannot be turned into an integration event. Each is a defect or a
/// deployment mismatch (an event written by a newer version of the application), never bad
/// luck: the relay stops at such an event rather than skip it.
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("event {event_id}: no integration events for aggregate type {aggregate_type:?}")]
    UnknownAggregateType {
        event_id: uuid::Uuid,
        aggregate_type: String,
    },
    #[error("event {event_id}: {event_type} version {event_version:?} is not the version this release knows ({current:?})")]
    UnknownEventVersion {
        event_id: uuid::Uuid,
        event_type: String,
        event_version: String,
        current: String,
    },
    #[error("event {event_id}: the stored payload of {event_type} cannot be read: {source}")]
    Payload {
        event_id: uuid::Uuid,
        event_type: String,
        source: serde_json::Error,
    },
}

/// The v1 integration event for a committed domain event.
///
/// The stored payload is first brought to the domain's current shape by the domain's
/// `upcasters` (as the event store and the projectors do), then read as the domain event;
/// its version must then be the one the domain writes today. An event of a version the
/// domain does not know (written by a newer release) is an error, never misread.
/// Whether two event versions are the same version ("2.0" and the "2.0.0" an upcaster
/// writes are).
fn same_version(a: &str, b: &str) -> bool {
    match (SemanticVersion::from_str(a), SemanticVersion::from_str(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

pub fn integration_event(
    recorded: &RecordedEvent,
    upcasters: &[Box<dyn EventUpcaster>],
) -> Result<v1::CloudEvent<v1::IntegrationEvent>, MappingError> {
    // Only an event some upcaster rewrites is copied; the others are read in place.
    let upcasted = upcasters
        .iter()
        .any(|upcaster| upcaster.can_upcast(&recorded.event_type, &recorded.event_version))
        .then(|| upcast(recorded, upcasters));
    let (event_type, event_version, payload) = match &upcasted {
        Some(event) => (&event.event_type, &event.event_version, &event.payload),
        None => (&recorded.event_type, &recorded.event_version, &recorded.payload),
    };
    let payload_error = |source| MappingError::Payload {
        event_id: recorded.event_id,
        event_type: event_type.clone(),
        source,
    };
    let unknown_version = |current: String| MappingError::UnknownEventVersion {
        event_id: recorded.event_id,
        event_type: event_type.clone(),
        event_version: event_version.clone(),
        current,
    };
    let id = recorded.aggregate_id.clone();
    let data = match recorded.aggregate_type.as_str() {
        CAMPAIGN => {
            let event = CampaignEvent::deserialize(payload).map_err(payload_error)?;
            if !same_version(&event.event_version(), event_version) {
                return Err(unknown_version(event.event_version()));
            }
            v1::IntegrationEvent::Campaign(campaign_event(id, event))
        }
        PARTNER => {
            let event = PartnerEvent::deserialize(payload).map_err(payload_error)?;
            if !same_version(&event.event_version(), event_version) {
                return Err(unknown_version(event.event_version()));
            }
            v1::IntegrationEvent::Partner(partner_event(id, event))
        }
        other => {
            return Err(MappingError::UnknownAggregateType {
                event_id: recorded.event_id,
                aggregate_type: other.to_owned(),
            })
        }
    };
    Ok(v1::CloudEvent {
        specversion: v1::SPEC_VERSION.to_owned(),
        id: recorded.event_id,
        source: data.source().to_owned(),
        event_type: data.event_type().to_owned(),
        subject: recorded.aggregate_id.clone(),
        time: recorded.recorded_at,
        datacontenttype: v1::DATA_CONTENT_TYPE.to_owned(),
        aggregatesequence: recorded.sequence,
        correlationid: recorded
            .metadata
            .get(CORRELATION_ID)
            .and_then(|id| id.as_str())
            .map(str::to_owned),
        traceparent: recorded
            .metadata
            .get(TRACEPARENT)
            .and_then(|traceparent| traceparent.as_str())
            .map(str::to_owned),
        data,
    })
}

/// The stored event after every upcaster that applies.
fn upcast(recorded: &RecordedEvent, upcasters: &[Box<dyn EventUpcaster>]) -> SerializedEvent {
    let mut event = SerializedEvent {
        aggregate_id: recorded.aggregate_id.clone(),
        // Sequences start at 1 and are never negative (a CHECK in the events table).
        sequence: usize::try_from(recorded.sequence).unwrap_or_default(),
        aggregate_type: recorded.aggregate_type.clone(),
        event_type: recorded.event_type.clone(),
        event_version: recorded.event_version.clone(),
        payload: recorded.payload.clone(),
        metadata: recorded.metadata.clone(),
    };
    for upcaster in upcasters {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            event = upcaster.upcast(event);
        }
    }
    event
}

fn campaign_event(campaign_id: String, event: CampaignEvent) -> v1::CampaignEvent {
    use v1::CampaignEvent as V1;
    let status = |campaign_id| v1::CampaignStatusChanged { campaign_id };
    match event {
        CampaignEvent::CampaignCreated {
            name,
            brand_id,
            budget,
            schedule,
        } => V1::Created(v1::CampaignCreated {
            campaign_id,
            name,
            brand_id,
            budget: money(budget),
            schedule: schedule.map(schedule_v1),
        }),
        CampaignEvent::ParticipantAdded(participant) => V1::ParticipantAdded(v1::ParticipantAdded {
            campaign_id,
            partner_id: participant.partner_id,
            kind: kind(participant.kind),
            name: participant.name,
            profile: participant.profile,
        }),
        CampaignEvent::ParticipantRemoved { partner_id } => V1::ParticipantRemoved(v1::ParticipantRemoved {
            campaign_id,
            partner_id,
        }),
        CampaignEvent::BudgetChanged { budget } => V1::BudgetChanged(v1::BudgetChanged {
            campaign_id,
            budget: money(budget),
        }),
        CampaignEvent::CampaignRescheduled { schedule } => V1::Rescheduled(v1::CampaignRescheduled {
            campaign_id,
            schedule: schedule_v1(schedule),
        }),
        CampaignEvent::CampaignActivated => V1::Activated(status(campaign_id)),
        CampaignEvent::CampaignPaused => V1::Paused(status(campaign_id)),
        CampaignEvent::CampaignResumed => V1::Resumed(status(campaign_id)),
        CampaignEvent::CampaignCompleted => V1::Completed(status(campaign_id)),
        CampaignEvent::CampaignCancelled { reason } => {
            V1::Cancelled(v1::CampaignCancelled { campaign_id, reason })
        }
    }
}

fn partner_event(partner_id: String, event: PartnerEvent) -> v1::PartnerEvent {
    use v1::PartnerEvent as V1;
    match event {
        // `email` is left out on purpose: see `v1::PartnerRegistered`.
        PartnerEvent::PartnerRegistered {
            name,
            kind: k,
            profile,
            ..
        } => V1::Registered(v1::PartnerRegistered {
            partner_id,
            name,
            kind: kind(k),
            profile,
        }),
        PartnerEvent::PartnerProfileUpdated {
            name,
            kind: k,
            profile,
            ..
        } => V1::ProfileUpdated(v1::PartnerProfileUpdated {
            partner_id,
            name,
            kind: kind(k),
            profile,
        }),
        PartnerEvent::PartnerSuspended { reason } => {
            V1::Suspended(v1::PartnerSuspended { partner_id, reason })
        }
        PartnerEvent::PartnerReinstated => V1::Reinstated(v1::PartnerStatusChanged { partner_id }),
        PartnerEvent::PartnerDeactivated => V1::Deactivated(v1::PartnerStatusChanged { partner_id }),
    }
}

fn money(money: Money) -> v1::Money {
    v1::Money {
        // Already rescaled to the currency's minor units by the domain: "10000.00".
        amount: money.amount().to_string(),
        currency: money.currency().code().to_owned(),
    }
}

fn schedule_v1(schedule: Schedule) -> v1::Schedule {
    v1::Schedule {
        starts_at: schedule.starts_at,
        ends_at: schedule.ends_at,
    }
}

fn kind(kind: PartnerKind) -> v1::PartnerKind {
    match kind {
        PartnerKind::Influencer => v1::PartnerKind::Influencer,
        PartnerKind::Affiliate => v1::PartnerKind::Affiliate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::{json, Value};
    use store::LogCursor;
    use uuid::Uuid;

    fn recorded(aggregate_type: &str, event_type: &str, payload: Value) -> RecordedEvent {
        RecordedEvent {
            cursor: LogCursor {
                transaction_id: 7,
                position: 42,
            },
            event_id: Uuid::now_v7(),
            aggregate_type: aggregate_type.into(),
            aggregate_id: "agg-1".into(),
            sequence: 3,
            event_type: event_type.into(),
            // The version each event is written in today.
            event_version: if event_type == "ParticipantAdded" {
                aggregates::campaign::PARTICIPANT_ADDED_VERSION.into()
            } else {
                "1.0".into()
            },
            payload,
            metadata: json!({}),
            recorded_at: Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
        }
    }

    /// The `data` and `type` of the integration event for a stored campaign/partner payload.
    fn mapped(aggregate_type: &str, payload: Value) -> (String, Value) {
        let event_type = match &payload {
            Value::String(name) => name.clone(),
            Value::Object(map) => map.keys().next().cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let event = integration_event(&recorded(aggregate_type, &event_type, payload), &[]).unwrap();
        let json = serde_json::to_value(&event).unwrap();
        (json["type"].as_str().unwrap().to_owned(), json["data"].clone())
    }

    #[test]
    fn a_participant_added_stored_in_version_1_maps_through_the_upcasters() {
        let mut stored = recorded(
            "Campaign",
            "ParticipantAdded",
            json!({"ParticipantAdded": {"participant": {"partner_id": "p-1", "kind": "influencer", "name": "Alice", "profile": ""}}}),
        );
        stored.event_version = "1.0".into();
        let event = integration_event(&stored, &aggregates::upcasters::all()).unwrap();
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "alpes.campaign.participant_added.v1");
        assert_eq!(json["data"]["partner_id"], "p-1");
    }

    #[test]
    fn the_envelope_carries_the_events_identity() {
        let event = recorded("Campaign", "CampaignActivated", json!("CampaignActivated"));
        let mapped = integration_event(&event, &[]).unwrap();
        let json = serde_json::to_value(&mapped).unwrap();
        assert_eq!(
            json,
            json!({
                "specversion": "1.0",
                "id": event.event_id.to_string(),
                "source": "/alpes/campaigns",
                "type": "alpes.campaign.activated.v1",
                "subject": "agg-1",
                "time": "2026-11-22T10:00:00Z",
                "datacontenttype": "application/json",
                "aggregatesequence": 3,
                "data": {"campaign_id": "agg-1"},
            })
        );
    }

    #[test]
    fn every_campaign_event_maps_to_its_v1_type() {
        let budget = json!({"amount": "10000.00", "currency": "USD"});
        let schedule = json!({"starts_at": "2026-12-01T00:00:00Z", "ends_at": "2026-12-31T00:00:00Z"});
        let cases = [
            (
                json!({"CampaignCreated": {"name": "Summer", "brand_id": "b-1", "budget": budget, "schedule": null}}),
                "alpes.campaign.created.v1",
                json!({"campaign_id": "agg-1", "name": "Summer", "brand_id": "b-1", "budget": budget, "schedule": null}),
            ),
            (
                json!({"ParticipantAdded": {"partner_id": "p-1", "kind": "influencer", "name": "Alice", "profile": "200k"}}),
                "alpes.campaign.participant_added.v1",
                json!({"campaign_id": "agg-1", "partner_id": "p-1", "kind": "influencer", "name": "Alice", "profile": "200k"}),
            ),
            (
                json!({"ParticipantRemoved": {"partner_id": "p-1"}}),
                "alpes.campaign.participant_removed.v1",
                json!({"campaign_id": "agg-1", "partner_id": "p-1"}),
            ),
            (
                json!({"BudgetChanged": {"budget": budget}}),
                "alpes.campaign.budget_changed.v1",
                json!({"campaign_id": "agg-1", "budget": budget}),
            ),
            (
                json!({"CampaignRescheduled": {"schedule": schedule}}),
                "alpes.campaign.rescheduled.v1",
                json!({"campaign_id": "agg-1", "schedule": schedule}),
            ),
            (
                json!("CampaignActivated"),
                "alpes.campaign.activated.v1",
                json!({"campaign_id": "agg-1"}),
            ),
            (
                json!("CampaignPaused"),
                "alpes.campaign.paused.v1",
                json!({"campaign_id": "agg-1"}),
            ),
            (
                json!("CampaignResumed"),
                "alpes.campaign.resumed.v1",
                json!({"campaign_id": "agg-1"}),
            ),
            (
                json!("CampaignCompleted"),
                "alpes.campaign.completed.v1",
                json!({"campaign_id": "agg-1"}),
            ),
            (
                json!({"CampaignCancelled": {"reason": "budget cut"}}),
                "alpes.campaign.cancelled.v1",
                json!({"campaign_id": "agg-1", "reason": "budget cut"}),
            ),
        ];
        for (payload, event_type, data) in cases {
            assert_eq!(mapped("Campaign", payload), (event_type.to_owned(), data));
        }
    }

    #[test]
    fn every_partner_event_maps_to_its_v1_type_without_the_email() {
        let profile =
            json!({"name": "Alice", "kind": "affiliate", "profile": "blog", "email": "a@example.com"});
        let cases = [
            (
                json!({ "PartnerRegistered": profile }),
                "alpes.partner.registered.v1",
                json!({"partner_id": "agg-1", "name": "Alice", "kind": "affiliate", "profile": "blog"}),
            ),
            (
                json!({ "PartnerProfileUpdated": profile }),
                "alpes.partner.profile_updated.v1",
                json!({"partner_id": "agg-1", "name": "Alice", "kind": "affiliate", "profile": "blog"}),
            ),
            (
                json!({"PartnerSuspended": {"reason": "fraud"}}),
                "alpes.partner.suspended.v1",
                json!({"partner_id": "agg-1", "reason": "fraud"}),
            ),
            (
                json!("PartnerReinstated"),
                "alpes.partner.reinstated.v1",
                json!({"partner_id": "agg-1"}),
            ),
            (
                json!("PartnerDeactivated"),
                "alpes.partner.deactivated.v1",
                json!({"partner_id": "agg-1"}),
            ),
        ];
        for (payload, event_type, data) in cases {
            assert_eq!(mapped("Partner", payload), (event_type.to_owned(), data));
        }
    }

    #[test]
    fn mapped_events_decode_as_v1() {
        let event = recorded(
            "Partner",
            "PartnerSuspended",
            json!({"PartnerSuspended": {"reason": "x"}}),
        );
        let bytes = serde_json::to_vec(&integration_event(&event, &[]).unwrap()).unwrap();
        let decoded = v1::decode(&bytes).unwrap();
        assert_eq!(decoded.id, event.event_id);
        assert_eq!(decoded.data.event_type(), v1::types::PARTNER_SUSPENDED);
    }

    /// Reads a (hypothetical) 0.9 `CampaignCancelled {why}` as the 1.0 `{reason}`.
    struct RenameWhy;

    impl EventUpcaster for RenameWhy {
        fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
            event_type == "CampaignCancelled" && event_version == "0.9"
        }

        fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
            let why = event.payload["CampaignCancelled"]["why"].take();
            event.payload = json!({"CampaignCancelled": {"reason": why}});
            event.event_version = "1.0".into();
            event
        }
    }

    #[test]
    fn stored_events_are_upcast_before_mapping() {
        let mut old = recorded(
            "Campaign",
            "CampaignCancelled",
            json!({"CampaignCancelled": {"why": "late"}}),
        );
        old.event_version = "0.9".into();
        assert!(
            integration_event(&old, &[]).is_err(),
            "not readable without its upcaster"
        );
        let upcasters: Vec<Box<dyn EventUpcaster>> = vec![Box::new(RenameWhy)];
        let event = integration_event(&old, &upcasters).unwrap();
        assert_eq!(
            event.data,
            v1::IntegrationEvent::Campaign(v1::CampaignEvent::Cancelled(v1::CampaignCancelled {
                campaign_id: "agg-1".into(),
                reason: "late".into()
            }))
        );
    }

    #[test]
    fn unmappable_events_are_errors_not_panics() {
        let unknown_type = recorded("Invoice", "InvoiceSent", json!("InvoiceSent"));
        assert!(matches!(
            integration_event(&unknown_type, &[]),
            Err(MappingError::UnknownAggregateType { .. })
        ));
        let mut newer = recorded("Campaign", "CampaignActivated", json!("CampaignActivated"));
        newer.event_version = "2.0".into();
        assert!(matches!(
            integration_event(&newer, &[]),
            Err(MappingError::UnknownEventVersion { .. })
        ));
        let garbage = recorded("Campaign", "CampaignCreated", json!({"CampaignCreated": 12}));
        assert!(matches!(
            integration_event(&garbage, &[]),
            Err(MappingError::Payload { .. })
        ));
    }
}
