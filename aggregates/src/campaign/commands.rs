//! Commands to the Campaign aggregate.
//!
//! Commands carry input exactly as the client sent it (strings, not domain types), so that the
//! aggregate alone decides what is valid and every rejection is reported with a domain error
//! code instead of a deserialization failure.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An amount and currency as received, validated into [`crate::Money`] by the aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoneyInput {
    /// Decimal text, e.g. `"10000"` or `"99.95"`.
    pub amount: String,
    /// ISO 4217 code in any case, e.g. `"USD"` or `"usd"`.
    pub currency: String,
}

/// A participant as received, validated into a [`super::Participant`] by the aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInput {
    /// Id of the partner who takes part.
    pub partner_id: String,
    /// `"influencer"` or `"affiliate"`, in any case.
    pub kind: String,
    /// Name shown for the partner within this campaign.
    pub name: String,
    /// Free-text description of the partner's profile; may be empty.
    pub profile: String,
}

/// Everything that can be asked of a campaign.
#[derive(Debug, Clone, PartialEq)]
pub enum CampaignCommand {
    /// Creates a draft campaign, optionally with its first participants (kept in this order).
    CreateCampaign {
        /// Campaign name, 1 to 100 characters.
        name: String,
        /// Id of the brand running the campaign, 1 to 64 characters.
        brand_id: String,
        /// The total budget.
        budget: MoneyInput,
        /// Start of the campaign; given together with `ends_at` or not at all.
        starts_at: Option<DateTime<Utc>>,
        /// End of the campaign; given together with `starts_at` or not at all.
        ends_at: Option<DateTime<Utc>>,
        /// Initial participants, at most [`super::MAX_PARTICIPANTS`].
        participants: Vec<ParticipantInput>,
    },
    /// Adds one partner to the campaign.
    AddParticipant {
        /// The partner to add.
        participant: ParticipantInput,
    },
    /// Removes a partner from the campaign.
    RemoveParticipant {
        /// Id of the partner to remove.
        partner_id: String,
    },
    /// Replaces the budget (the currency may change too).
    ChangeBudget {
        /// The new budget.
        budget: MoneyInput,
    },
    /// Sets or replaces the schedule.
    Reschedule {
        /// New start.
        starts_at: DateTime<Utc>,
        /// New end, later than `starts_at`.
        ends_at: DateTime<Utc>,
    },
    /// Starts a draft campaign; it needs at least one participant.
    Activate,
    /// Temporarily stops an active campaign.
    Pause,
    /// Restarts a paused campaign.
    Resume,
    /// Ends an active or paused campaign successfully.
    Complete,
    /// Abandons a campaign that has not ended yet.
    Cancel {
        /// Why the campaign is cancelled, 1 to 500 characters; kept for the audit trail.
        reason: String,
    },
}

impl crate::CommandName for CampaignCommand {
    fn name(&self) -> &'static str {
        match self {
            CampaignCommand::CreateCampaign { .. } => "CreateCampaign",
            CampaignCommand::AddParticipant { .. } => "AddParticipant",
            CampaignCommand::RemoveParticipant { .. } => "RemoveParticipant",
            CampaignCommand::ChangeBudget { .. } => "ChangeBudget",
            CampaignCommand::Reschedule { .. } => "Reschedule",
            CampaignCommand::Activate => "Activate",
            CampaignCommand::Pause => "Pause",
            CampaignCommand::Resume => "Resume",
            CampaignCommand::Complete => "Complete",
            CampaignCommand::Cancel { .. } => "Cancel",
        }
    }
}
