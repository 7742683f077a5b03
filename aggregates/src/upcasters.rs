//! Upcasters: stored events of an older version, read as the current one.
//!
//! Stored events never change; when an event's shape does, the new shape gets a new
//! `event_version` and an upcaster here turns the old shape into it whenever old events
//! are read: by the event store loading an aggregate, by the projectors, by the outbox
//! relay. They use cqrs-es's `EventUpcaster` (`can_upcast` / `upcast`).
//!
//! | event | from | to | change |
//! |---|---|---|---|
//! | `ParticipantAdded` | 1.0 | 2.0 | the participant's fields moved up from under `participant` |

use crate::campaign::PARTICIPANT_ADDED_VERSION;
use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster};
use serde_json::Value;

/// Every upcaster, for the event store, the projectors and the relay.
pub fn all() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(participant_added_v2())]
}

/// `ParticipantAdded` 1.0 → 2.0:
/// `{"ParticipantAdded": {"participant": {...}}}` becomes `{"ParticipantAdded": {...}}`.
/// Version 1.0 wrapped the one participant in an object of its own, which every
/// reader had to unwrap; 2.0 stores the participant as the event's body.
fn participant_added_v2() -> SemanticVersionEventUpcaster {
    SemanticVersionEventUpcaster::new(
        "ParticipantAdded",
        PARTICIPANT_ADDED_VERSION,
        Box::new(|mut payload: Value| {
            if let Some(body) = payload.get_mut("ParticipantAdded") {
                if let Some(participant) = body.get_mut("participant").map(Value::take) {
                    *body = participant;
                }
            }
            payload
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::{CampaignEvent, Participant};
    use crate::partner_kind::PartnerKind;
    use cqrs_es::persist::SerializedEvent;
    use cqrs_es::DomainEvent;
    use serde_json::json;

    fn stored(version: &str, payload: Value) -> SerializedEvent {
        SerializedEvent::new(
            "c-1".into(),
            2,
            "Campaign".into(),
            "ParticipantAdded".into(),
            version.into(),
            payload,
            json!({}),
        )
    }

    fn upcast(event: SerializedEvent) -> SerializedEvent {
        all().iter().fold(event, |event, upcaster| {
            if upcaster.can_upcast(&event.event_type, &event.event_version) {
                upcaster.upcast(event)
            } else {
                event
            }
        })
    }

    fn participant() -> Participant {
        Participant {
            partner_id: "p-1".into(),
            kind: PartnerKind::Influencer,
            name: "Alice".into(),
            profile: "200k".into(),
        }
    }

    #[test]
    fn a_participant_added_of_version_1_is_read_as_version_2() {
        let v1 = stored(
            "1.0",
            json!({"ParticipantAdded": {"participant":
                {"partner_id": "p-1", "kind": "influencer", "name": "Alice", "profile": "200k"}}}),
        );

        let read = upcast(v1);

        // cqrs-es writes the semantic version out in full.
        assert_eq!(read.event_version, "2.0.0");
        let event: CampaignEvent = serde_json::from_value(read.payload).unwrap();
        assert_eq!(event, CampaignEvent::ParticipantAdded(participant()));
    }

    #[test]
    fn current_events_pass_untouched() {
        let current = CampaignEvent::ParticipantAdded(participant());
        let v2 = stored(&current.event_version(), serde_json::to_value(&current).unwrap());
        assert!(!all()
            .iter()
            .any(|u| u.can_upcast(&v2.event_type, &v2.event_version)));
        let read = upcast(v2.clone());
        assert_eq!(read.payload, v2.payload);
        let other = SerializedEvent::new(
            "c-1".into(),
            1,
            "Campaign".into(),
            "CampaignActivated".into(),
            "1.0".into(),
            json!("CampaignActivated"),
            json!({}),
        );
        assert!(!all()
            .iter()
            .any(|u| u.can_upcast(&other.event_type, &other.event_version)));
    }
}
