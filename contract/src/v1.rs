//! Version 1 of the integration events: the public contract of the `campaign-events` and
//! `partner-events` topics, documented by the JSON Schema files in `contract/schemas/v1/`
//! ([`schema`]).
//!
//! Every message is a [CloudEvents 1.0](https://github.com/cloudevents/spec) event in structured
//! JSON mode ([`CloudEvent`]): `id` is the domain event's id, `source` names the kind of
//! aggregate ([`CAMPAIGN_SOURCE`], [`PARTNER_SOURCE`]), `type` names the event and its version
//! (`alpes.campaign.activated.v1`), `subject` is the aggregate's id, `time` when the event was
//! committed, and `data` one of the structs below.
//!
//! These types are deliberately not the domain events: the domain may rename or reshape its
//! stored events (with upcasters), consumers only ever see this module. Within `v1`, changes
//! are additive only (a new optional field, a new event type); consumers therefore ignore
//! fields they do not know. Anything else is a `v2` module, published next to `v1` for as long
//! as consumers need it.

pub mod commands;
pub mod schema;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The schema version of this module, as carried in the `type` suffix and the
/// `schema_version` message property.
pub const SCHEMA_VERSION: &str = "v1";
/// The CloudEvents specification version of the envelope.
pub const SPEC_VERSION: &str = "1.0";
/// `datacontenttype` of every event: `data` is inline JSON.
pub const DATA_CONTENT_TYPE: &str = "application/json";
/// `source` of campaign events.
pub const CAMPAIGN_SOURCE: &str = "/alpes/campaigns";
/// `source` of partner events.
pub const PARTNER_SOURCE: &str = "/alpes/partners";

/// A CloudEvents 1.0 event in structured JSON mode.
///
/// `D` is [`IntegrationEvent`] when publishing or after [`decode`], and `serde_json::Value`
/// while the `type` is not known yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent<D> {
    /// Always [`SPEC_VERSION`].
    pub specversion: String,
    /// The domain event's id: the same event always has the same id, so consumers
    /// deduplicate on it.
    pub id: Uuid,
    /// [`CAMPAIGN_SOURCE`] or [`PARTNER_SOURCE`].
    pub source: String,
    /// `alpes.<aggregate>.<event>.v1`, e.g. `alpes.campaign.activated.v1`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The aggregate's id (the campaign's or the partner's).
    pub subject: String,
    /// When the event was committed.
    pub time: DateTime<Utc>,
    /// Always [`DATA_CONTENT_TYPE`].
    pub datacontenttype: String,
    /// Extension attribute: the event's place in its aggregate's stream (1, 2, …). Consumers
    /// that keep state per aggregate use it to recognise an older event arriving late.
    pub aggregatesequence: i64,
    /// Extension attribute: the id of what caused the event (the command of the seed
    /// front door that produced it), when known. Added within v1: optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlationid: Option<String>,
    /// Extension attribute (CloudEvents distributed tracing): the W3C `traceparent` of
    /// the request that caused the event, when known. Added within v1: optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The event itself.
    pub data: D,
}

/// Every v1 event, by aggregate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum IntegrationEvent {
    Campaign(CampaignEvent),
    Partner(PartnerEvent),
}

impl IntegrationEvent {
    /// The CloudEvents `type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Campaign(event) => event.event_type(),
            Self::Partner(event) => event.event_type(),
        }
    }

    /// The CloudEvents `source`.
    pub fn source(&self) -> &'static str {
        match self {
            Self::Campaign(_) => CAMPAIGN_SOURCE,
            Self::Partner(_) => PARTNER_SOURCE,
        }
    }
}

/// Serialised as its inner struct (the `data` of the CloudEvent): the variant is the `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CampaignEvent {
    Created(CampaignCreated),
    ParticipantAdded(ParticipantAdded),
    ParticipantRemoved(ParticipantRemoved),
    BudgetChanged(BudgetChanged),
    Rescheduled(CampaignRescheduled),
    Activated(CampaignStatusChanged),
    Paused(CampaignStatusChanged),
    Resumed(CampaignStatusChanged),
    Completed(CampaignStatusChanged),
    Cancelled(CampaignCancelled),
}

/// Serialised as its inner struct (the `data` of the CloudEvent): the variant is the `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PartnerEvent {
    Registered(PartnerRegistered),
    ProfileUpdated(PartnerProfileUpdated),
    Suspended(PartnerSuspended),
    Reinstated(PartnerStatusChanged),
    Deactivated(PartnerStatusChanged),
}

/// Event types, one constant each, so producers and consumers spell them once.
pub mod types {
    pub const CAMPAIGN_CREATED: &str = "alpes.campaign.created.v1";
    pub const CAMPAIGN_PARTICIPANT_ADDED: &str = "alpes.campaign.participant_added.v1";
    pub const CAMPAIGN_PARTICIPANT_REMOVED: &str = "alpes.campaign.participant_removed.v1";
    pub const CAMPAIGN_BUDGET_CHANGED: &str = "alpes.campaign.budget_changed.v1";
    pub const CAMPAIGN_RESCHEDULED: &str = "alpes.campaign.rescheduled.v1";
    pub const CAMPAIGN_ACTIVATED: &str = "alpes.campaign.activated.v1";
    pub const CAMPAIGN_PAUSED: &str = "alpes.campaign.paused.v1";
    pub const CAMPAIGN_RESUMED: &str = "alpes.campaign.resumed.v1";
    pub const CAMPAIGN_COMPLETED: &str = "alpes.campaign.completed.v1";
    pub const CAMPAIGN_CANCELLED: &str = "alpes.campaign.cancelled.v1";
    pub const PARTNER_REGISTERED: &str = "alpes.partner.registered.v1";
    pub const PARTNER_PROFILE_UPDATED: &str = "alpes.partner.profile_updated.v1";
    pub const PARTNER_SUSPENDED: &str = "alpes.partner.suspended.v1";
    pub const PARTNER_REINSTATED: &str = "alpes.partner.reinstated.v1";
    pub const PARTNER_DEACTIVATED: &str = "alpes.partner.deactivated.v1";

    /// Every v1 type.
    pub const ALL: &[&str] = &[
        CAMPAIGN_CREATED,
        CAMPAIGN_PARTICIPANT_ADDED,
        CAMPAIGN_PARTICIPANT_REMOVED,
        CAMPAIGN_BUDGET_CHANGED,
        CAMPAIGN_RESCHEDULED,
        CAMPAIGN_ACTIVATED,
        CAMPAIGN_PAUSED,
        CAMPAIGN_RESUMED,
        CAMPAIGN_COMPLETED,
        CAMPAIGN_CANCELLED,
        PARTNER_REGISTERED,
        PARTNER_PROFILE_UPDATED,
        PARTNER_SUSPENDED,
        PARTNER_REINSTATED,
        PARTNER_DEACTIVATED,
    ];
}

impl CampaignEvent {
    pub fn event_type(&self) -> &'static str {
        use types::*;
        match self {
            Self::Created(_) => CAMPAIGN_CREATED,
            Self::ParticipantAdded(_) => CAMPAIGN_PARTICIPANT_ADDED,
            Self::ParticipantRemoved(_) => CAMPAIGN_PARTICIPANT_REMOVED,
            Self::BudgetChanged(_) => CAMPAIGN_BUDGET_CHANGED,
            Self::Rescheduled(_) => CAMPAIGN_RESCHEDULED,
            Self::Activated(_) => CAMPAIGN_ACTIVATED,
            Self::Paused(_) => CAMPAIGN_PAUSED,
            Self::Resumed(_) => CAMPAIGN_RESUMED,
            Self::Completed(_) => CAMPAIGN_COMPLETED,
            Self::Cancelled(_) => CAMPAIGN_CANCELLED,
        }
    }

    /// The campaign the event is about.
    pub fn campaign_id(&self) -> &str {
        match self {
            Self::Created(e) => &e.campaign_id,
            Self::ParticipantAdded(e) => &e.campaign_id,
            Self::ParticipantRemoved(e) => &e.campaign_id,
            Self::BudgetChanged(e) => &e.campaign_id,
            Self::Rescheduled(e) => &e.campaign_id,
            Self::Activated(e) | Self::Paused(e) | Self::Resumed(e) | Self::Completed(e) => &e.campaign_id,
            Self::Cancelled(e) => &e.campaign_id,
        }
    }
}

impl PartnerEvent {
    pub fn event_type(&self) -> &'static str {
        use types::*;
        match self {
            Self::Registered(_) => PARTNER_REGISTERED,
            Self::ProfileUpdated(_) => PARTNER_PROFILE_UPDATED,
            Self::Suspended(_) => PARTNER_SUSPENDED,
            Self::Reinstated(_) => PARTNER_REINSTATED,
            Self::Deactivated(_) => PARTNER_DEACTIVATED,
        }
    }

    /// The partner the event is about.
    pub fn partner_id(&self) -> &str {
        match self {
            Self::Registered(e) => &e.partner_id,
            Self::ProfileUpdated(e) => &e.partner_id,
            Self::Suspended(e) => &e.partner_id,
            Self::Reinstated(e) | Self::Deactivated(e) => &e.partner_id,
        }
    }
}

/// An amount of money: the amount as a decimal string (exact, never a float), with exactly
/// as many decimals as the currency has minor units (`"10000.00"` USD, `"5000"` JPY).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: String,
    /// ISO 4217 code, uppercase.
    pub currency: String,
}

/// When a campaign runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// How a partner works: `influencer` or `affiliate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartnerKind {
    Influencer,
    Affiliate,
}

/// `alpes.campaign.created.v1`: a draft campaign was created. Its initial participants follow
/// as `participant_added` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignCreated {
    pub campaign_id: String,
    pub name: String,
    pub brand_id: String,
    pub budget: Money,
    /// `null` until the campaign is scheduled.
    pub schedule: Option<Schedule>,
}

/// `alpes.campaign.participant_added.v1`: a partner joined the campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantAdded {
    pub campaign_id: String,
    pub partner_id: String,
    pub kind: PartnerKind,
    /// The name shown for the partner within this campaign.
    pub name: String,
    pub profile: String,
}

/// `alpes.campaign.participant_removed.v1`: a partner left the campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParticipantRemoved {
    pub campaign_id: String,
    pub partner_id: String,
}

/// `alpes.campaign.budget_changed.v1`: the budget was replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetChanged {
    pub campaign_id: String,
    pub budget: Money,
}

/// `alpes.campaign.rescheduled.v1`: the schedule was set or replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRescheduled {
    pub campaign_id: String,
    pub schedule: Schedule,
}

/// `alpes.campaign.activated.v1`, `.paused.v1`, `.resumed.v1`, `.completed.v1`: the campaign's
/// status changed; the `type` says to what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignStatusChanged {
    pub campaign_id: String,
}

/// `alpes.campaign.cancelled.v1`: the campaign was abandoned (final).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignCancelled {
    pub campaign_id: String,
    pub reason: String,
}

/// `alpes.partner.registered.v1`: a partner was registered and is active.
///
/// The partner's e-mail address is not published: no consumer needs it, and a public
/// contract should not spread personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerRegistered {
    pub partner_id: String,
    pub name: String,
    pub kind: PartnerKind,
    pub profile: String,
}

/// `alpes.partner.profile_updated.v1`: the partner's profile was replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerProfileUpdated {
    pub partner_id: String,
    pub name: String,
    pub kind: PartnerKind,
    pub profile: String,
}

/// `alpes.partner.suspended.v1`: the partner was suspended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerSuspended {
    pub partner_id: String,
    pub reason: String,
}

/// `alpes.partner.reinstated.v1` (the suspension was lifted) and
/// `alpes.partner.deactivated.v1` (retired for good).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerStatusChanged {
    pub partner_id: String,
}

/// Why a message is not a v1 integration event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not a CloudEvent with the attributes v1 requires.
    #[error("not a CloudEvents 1.0 JSON event: {0}")]
    Envelope(serde_json::Error),
    #[error("unsupported CloudEvents specversion {0:?}")]
    SpecVersion(String),
    #[error("unsupported datacontenttype {0:?}")]
    ContentType(String),
    /// An `alpes.` type of another schema version.
    #[error("event type {0:?} is not a v1 type")]
    UnsupportedVersion(String),
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// `data` does not match the type's schema.
    #[error("data of {event_type} does not match its schema: {source}")]
    Data {
        event_type: String,
        source: serde_json::Error,
    },
}

/// Reads a v1 integration event from a message payload.
///
/// The envelope is read first with `data` left as JSON; the `type` then picks the struct
/// `data` must match. Unknown fields are ignored (v1 only grows by optional fields).
pub fn decode(payload: &[u8]) -> Result<CloudEvent<IntegrationEvent>, DecodeError> {
    let envelope: CloudEvent<serde_json::Value> =
        serde_json::from_slice(payload).map_err(DecodeError::Envelope)?;
    if envelope.specversion != SPEC_VERSION {
        return Err(DecodeError::SpecVersion(envelope.specversion));
    }
    if envelope.datacontenttype != DATA_CONTENT_TYPE {
        return Err(DecodeError::ContentType(envelope.datacontenttype));
    }
    let data = decode_data(&envelope.event_type, envelope.data)?;
    Ok(CloudEvent {
        specversion: envelope.specversion,
        id: envelope.id,
        source: envelope.source,
        event_type: envelope.event_type,
        subject: envelope.subject,
        time: envelope.time,
        datacontenttype: envelope.datacontenttype,
        aggregatesequence: envelope.aggregatesequence,
        correlationid: envelope.correlationid,
        traceparent: envelope.traceparent,
        data,
    })
}

fn decode_data(event_type: &str, data: serde_json::Value) -> Result<IntegrationEvent, DecodeError> {
    use types::*;
    use CampaignEvent as C;
    use IntegrationEvent::{Campaign, Partner};
    use PartnerEvent as P;

    fn read<T: serde::de::DeserializeOwned>(
        event_type: &str,
        data: serde_json::Value,
    ) -> Result<T, DecodeError> {
        serde_json::from_value(data).map_err(|source| DecodeError::Data {
            event_type: event_type.to_owned(),
            source,
        })
    }

    let t = event_type;
    Ok(match t {
        CAMPAIGN_CREATED => Campaign(C::Created(read(t, data)?)),
        CAMPAIGN_PARTICIPANT_ADDED => Campaign(C::ParticipantAdded(read(t, data)?)),
        CAMPAIGN_PARTICIPANT_REMOVED => Campaign(C::ParticipantRemoved(read(t, data)?)),
        CAMPAIGN_BUDGET_CHANGED => Campaign(C::BudgetChanged(read(t, data)?)),
        CAMPAIGN_RESCHEDULED => Campaign(C::Rescheduled(read(t, data)?)),
        CAMPAIGN_ACTIVATED => Campaign(C::Activated(read(t, data)?)),
        CAMPAIGN_PAUSED => Campaign(C::Paused(read(t, data)?)),
        CAMPAIGN_RESUMED => Campaign(C::Resumed(read(t, data)?)),
        CAMPAIGN_COMPLETED => Campaign(C::Completed(read(t, data)?)),
        CAMPAIGN_CANCELLED => Campaign(C::Cancelled(read(t, data)?)),
        PARTNER_REGISTERED => Partner(P::Registered(read(t, data)?)),
        PARTNER_PROFILE_UPDATED => Partner(P::ProfileUpdated(read(t, data)?)),
        PARTNER_SUSPENDED => Partner(P::Suspended(read(t, data)?)),
        PARTNER_REINSTATED => Partner(P::Reinstated(read(t, data)?)),
        PARTNER_DEACTIVATED => Partner(P::Deactivated(read(t, data)?)),
        other if other.starts_with("alpes.") && !other.ends_with(".v1") => {
            return Err(DecodeError::UnsupportedVersion(other.to_owned()))
        }
        other => return Err(DecodeError::UnknownType(other.to_owned())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn envelope(event_type: &str, data: serde_json::Value) -> Vec<u8> {
        json!({
            "specversion": "1.0",
            "id": "0190a5c8-7b6e-7c3a-9f0e-2d4b5a6c7d8e",
            "source": "/alpes/campaigns",
            "type": event_type,
            "subject": "c-1",
            "time": "2026-01-02T03:04:05.678Z",
            "datacontenttype": "application/json",
            "aggregatesequence": 3,
            "data": data,
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn decodes_a_v1_event_and_ignores_unknown_fields() {
        let payload = envelope(
            types::CAMPAIGN_ACTIVATED,
            json!({"campaign_id": "c-1", "later": true}),
        );
        let event = decode(&payload).unwrap();
        assert_eq!(event.subject, "c-1");
        assert_eq!(event.aggregatesequence, 3);
        assert_eq!(
            event.data,
            IntegrationEvent::Campaign(CampaignEvent::Activated(CampaignStatusChanged {
                campaign_id: "c-1".into()
            }))
        );
    }

    #[test]
    fn encoding_then_decoding_gives_the_event_back() {
        let event = CloudEvent {
            specversion: SPEC_VERSION.into(),
            id: Uuid::now_v7(),
            source: CAMPAIGN_SOURCE.into(),
            event_type: types::CAMPAIGN_PARTICIPANT_ADDED.into(),
            subject: "c-1".into(),
            time: Utc::now(),
            datacontenttype: DATA_CONTENT_TYPE.into(),
            aggregatesequence: 2,
            correlationid: None,
            traceparent: None,
            data: IntegrationEvent::Campaign(CampaignEvent::ParticipantAdded(ParticipantAdded {
                campaign_id: "c-1".into(),
                partner_id: "p-1".into(),
                kind: PartnerKind::Affiliate,
                name: "Blog".into(),
                profile: "".into(),
            })),
        };
        let bytes = serde_json::to_vec(&event).unwrap();
        assert_eq!(decode(&bytes).unwrap(), event);
    }

    #[test]
    fn refuses_what_is_not_a_v1_event() {
        assert!(matches!(decode(b"not json"), Err(DecodeError::Envelope(_))));
        assert!(matches!(decode(b"{}"), Err(DecodeError::Envelope(_))));
        assert!(matches!(
            decode(&envelope(
                "alpes.campaign.activated.v2",
                json!({"campaign_id": "c"})
            )),
            Err(DecodeError::UnsupportedVersion(_))
        ));
        assert!(matches!(
            decode(&envelope("com.example.other", json!({}))),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            decode(&envelope(types::CAMPAIGN_ACTIVATED, json!({"campaign": "c"}))),
            Err(DecodeError::Data { .. })
        ));
        let mut other_spec: serde_json::Value =
            serde_json::from_slice(&envelope(types::CAMPAIGN_ACTIVATED, json!({"campaign_id": "c"})))
                .unwrap();
        other_spec["specversion"] = json!("0.3");
        assert!(matches!(
            decode(other_spec.to_string().as_bytes()),
            Err(DecodeError::SpecVersion(_))
        ));
    }
}
