//! Events of the Campaign aggregate: the stored source of truth.
//!
//! Everything in this file is persisted as JSON, so its shape is a contract with every stored
//! event: never rename a variant or field, and never change a `event_type`/`event_version`
//! once released. A new shape gets a new version and an upcaster instead.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::partner_kind::PartnerKind;

/// When a campaign runs; `starts_at` is always strictly before `ends_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// First moment of the campaign.
    pub starts_at: DateTime<Utc>,
    /// Moment the campaign ends.
    pub ends_at: DateTime<Utc>,
}

/// A validated partner taking part in a campaign.
///
/// Name, kind and profile are copied from the request rather than looked up, so the campaign
/// keeps what was agreed for it even if the partner later edits their own profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Id of the partner; unique within a campaign.
    pub partner_id: String,
    /// What kind of partner takes part.
    pub kind: PartnerKind,
    /// Name shown for the partner within this campaign (trimmed).
    pub name: String,
    /// Description of the partner's profile (trimmed, possibly empty).
    pub profile: String,
}

/// The version `ParticipantAdded` is written with (see [`crate::upcasters`]).
pub const PARTICIPANT_ADDED_VERSION: &str = "2.0";

/// Something that happened to a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CampaignEvent {
    /// A draft campaign was created. Its initial participants follow as [`Self::ParticipantAdded`]
    /// events, so that there is only one way a participant joins.
    CampaignCreated {
        /// Campaign name (trimmed).
        name: String,
        /// Id of the brand running the campaign (trimmed).
        brand_id: String,
        /// The total budget.
        budget: Money,
        /// When the campaign runs, if already known.
        schedule: Option<Schedule>,
    },
    /// A partner joined the campaign. Version 2.0 stores the participant's fields
    /// directly (`{"ParticipantAdded": {"partner_id": …}}`); version 1.0 nested them
    /// under `participant` and is read through [`crate::upcasters`].
    ParticipantAdded(Participant),
    /// A partner left the campaign.
    ParticipantRemoved {
        /// Id of the partner who left.
        partner_id: String,
    },
    /// The budget was replaced.
    BudgetChanged {
        /// The new budget.
        budget: Money,
    },
    /// The schedule was set or replaced.
    CampaignRescheduled {
        /// The new schedule.
        schedule: Schedule,
    },
    /// The campaign went live (from draft).
    CampaignActivated,
    /// The campaign was paused.
    CampaignPaused,
    /// The paused campaign went live again.
    CampaignResumed,
    /// The campaign ended successfully; final.
    CampaignCompleted,
    /// The campaign was abandoned; final.
    CampaignCancelled {
        /// Why it was cancelled (trimmed).
        reason: String,
    },
}

/// Every [`CampaignEvent`] `event_type`, for projections and the API to subscribe to or list.
pub const CAMPAIGN_EVENT_TYPES: &[&str] = &[
    "CampaignCreated",
    "ParticipantAdded",
    "ParticipantRemoved",
    "BudgetChanged",
    "CampaignRescheduled",
    "CampaignActivated",
    "CampaignPaused",
    "CampaignResumed",
    "CampaignCompleted",
    "CampaignCancelled",
];

impl DomainEvent for CampaignEvent {
    /// The variant name; stored with the event, so it never changes.
    fn event_type(&self) -> String {
        let event_type = match self {
            Self::CampaignCreated { .. } => "CampaignCreated",
            Self::ParticipantAdded(_) => "ParticipantAdded",
            Self::ParticipantRemoved { .. } => "ParticipantRemoved",
            Self::BudgetChanged { .. } => "BudgetChanged",
            Self::CampaignRescheduled { .. } => "CampaignRescheduled",
            Self::CampaignActivated => "CampaignActivated",
            Self::CampaignPaused => "CampaignPaused",
            Self::CampaignResumed => "CampaignResumed",
            Self::CampaignCompleted => "CampaignCompleted",
            Self::CampaignCancelled { .. } => "CampaignCancelled",
        };
        event_type.to_owned()
    }

    /// Version of the payload shape; every event is still at its first version.
    fn event_version(&self) -> String {
        match self {
            Self::ParticipantAdded(_) => PARTICIPANT_ADDED_VERSION,
            _ => "1.0",
        }
        .to_owned()
    }
}
