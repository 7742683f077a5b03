//! Every rule a campaign command can break.

use crate::error::{DomainError, ErrorCategory};
use crate::money::MoneyError;
use crate::text::excerpt;

use super::aggregate::CampaignStatus;

/// Why one participant's data was rejected.
///
/// Kept apart from [`CampaignError`] because the same checks apply to each entry of
/// `CreateCampaign`'s list and to `AddParticipant`'s body; only the field path differs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticipantError {
    /// `partner_id` is empty or longer than 64 characters.
    #[error("partner_id must be 1 to 64 characters long, without control characters")]
    InvalidPartnerId,
    /// `kind` is neither influencer nor affiliate.
    #[error("kind '{}' is not a partner kind; use 'influencer' or 'affiliate'", excerpt(.value))]
    InvalidKind {
        /// The kind as given.
        value: String,
    },
    /// `name` is empty or longer than 100 characters.
    #[error("participant name must be 1 to 100 characters long, without control characters")]
    InvalidName,
    /// `profile` is longer than 1000 characters.
    #[error("profile must be at most 1000 characters long, without control characters")]
    InvalidProfile,
}

impl ParticipantError {
    /// The field of the participant object this error is about.
    fn relative_field(&self) -> &'static str {
        match self {
            Self::InvalidPartnerId => "partner_id",
            Self::InvalidKind { .. } => "kind",
            Self::InvalidName => "name",
            Self::InvalidProfile => "profile",
        }
    }
}

impl DomainError for ParticipantError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidPartnerId => "participant.invalid_partner_id",
            Self::InvalidKind { .. } => "participant.invalid_kind",
            Self::InvalidName => "participant.invalid_name",
            Self::InvalidProfile => "participant.invalid_profile",
        }
    }

    /// Relative to the participant object, e.g. `"kind"`.
    fn field(&self) -> Option<String> {
        Some(self.relative_field().to_owned())
    }

    fn category(&self) -> ErrorCategory {
        ErrorCategory::Rule
    }
}

/// Why a campaign command was rejected.
///
/// Where a variant has an `index`, it is the position of the offending entry in
/// `CreateCampaign`'s `participants` list, or `None` for `AddParticipant`, whose body is the
/// participant itself; [`DomainError::field`] builds the JSON path from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CampaignError {
    /// The command needs an existing campaign, and there is none with this id.
    #[error("no campaign exists with this id")]
    NotFound,
    /// `CreateCampaign` on an id that is already taken.
    #[error("a campaign with this id already exists")]
    AlreadyExists,
    /// The name is empty or longer than 100 characters after trimming.
    #[error("campaign name must be 1 to 100 characters long, without control characters")]
    InvalidName,
    /// The brand id is empty or longer than 64 characters after trimming.
    #[error("brand_id must be 1 to 64 characters long, without control characters")]
    InvalidBrandId,
    /// The budget is not valid money; code and field come from the [`MoneyError`].
    #[error("invalid budget: {0}")]
    InvalidBudget(MoneyError),
    /// Only one end of the schedule was given.
    #[error("starts_at and ends_at must be given together, but {missing} is missing")]
    IncompleteSchedule {
        /// The missing field: `"starts_at"` or `"ends_at"`.
        missing: &'static str,
    },
    /// The schedule does not end after it starts.
    #[error("ends_at must be later than starts_at")]
    InvalidSchedule,
    /// A schedule date lies outside the years 1 to 9999 (which every store and
    /// client can represent).
    #[error("{field} must lie between the years 1 and 9999")]
    ScheduleOutOfRange {
        /// The offending field: `"starts_at"` or `"ends_at"`.
        field: &'static str,
    },
    /// A participant's data is invalid; code and field come from the [`ParticipantError`].
    #[error("{}{reason}", participant_prefix(.index))]
    InvalidParticipant {
        /// Position in the create request, `None` for `AddParticipant`.
        index: Option<usize>,
        /// What is wrong with the participant.
        reason: ParticipantError,
    },
    /// The partner already takes part (or appears twice in the create request).
    #[error("{}partner '{}' is already a participant of this campaign", participant_prefix(.index), excerpt(.partner_id))]
    DuplicateParticipant {
        /// Position in the create request, `None` for `AddParticipant`.
        index: Option<usize>,
        /// The repeated partner id.
        partner_id: String,
    },
    /// The campaign would exceed [`super::MAX_PARTICIPANTS`].
    #[error("a campaign can have at most {max} participants")]
    TooManyParticipants {
        /// Position of the first participant over the cap in the create request, `None` for
        /// `AddParticipant`.
        index: Option<usize>,
        /// The cap.
        max: usize,
    },
    /// `RemoveParticipant` names a partner who does not take part.
    #[error("partner '{}' is not a participant of this campaign", excerpt(.partner_id))]
    ParticipantNotFound {
        /// The partner id as given (trimmed).
        partner_id: String,
    },
    /// A live campaign must keep at least one participant.
    #[error("the last participant cannot be removed while the campaign is {status}")]
    LastParticipant {
        /// The campaign's status (active or paused).
        status: CampaignStatus,
    },
    /// The campaign is completed or cancelled and accepts no more commands.
    #[error("the campaign is {status} and can no longer be changed")]
    Closed {
        /// The final status.
        status: CampaignStatus,
    },
    /// The status does not allow this life-cycle step.
    #[error("cannot {action} a campaign that is {from}")]
    InvalidTransition {
        /// The current status.
        from: CampaignStatus,
        /// The attempted step: `"activate"`, `"pause"`, `"resume"`, `"complete"` or `"cancel"`.
        action: &'static str,
    },
    /// `Activate` on a campaign nobody takes part in.
    #[error("a campaign needs at least one participant to be activated")]
    NoParticipants,
    /// The cancellation reason is empty or longer than 500 characters after trimming.
    #[error("the cancellation reason must be 1 to 500 characters long, without control characters")]
    InvalidReason,
}

/// Message prefix naming the offending entry of the create request's participant list.
fn participant_prefix(index: &Option<usize>) -> String {
    match index {
        Some(index) => format!("participants[{index}]: "),
        None => String::new(),
    }
}

/// JSON path of a participant's field: inside the list for create, top-level for add.
fn participant_field(index: Option<usize>, field: &str) -> String {
    match index {
        Some(index) => format!("participants[{index}].{field}"),
        None => field.to_owned(),
    }
}

impl DomainError for CampaignError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "campaign.not_found",
            Self::AlreadyExists => "campaign.already_exists",
            Self::InvalidName => "campaign.invalid_name",
            Self::InvalidBrandId => "campaign.invalid_brand_id",
            Self::InvalidBudget(error) => error.code(),
            Self::IncompleteSchedule { .. } => "campaign.incomplete_schedule",
            Self::InvalidSchedule => "campaign.invalid_schedule",
            Self::ScheduleOutOfRange { .. } => "campaign.schedule_out_of_range",
            Self::InvalidParticipant { reason, .. } => reason.code(),
            Self::DuplicateParticipant { .. } => "campaign.duplicate_participant",
            Self::TooManyParticipants { .. } => "campaign.too_many_participants",
            Self::ParticipantNotFound { .. } => "campaign.participant_not_found",
            Self::LastParticipant { .. } => "campaign.last_participant",
            Self::Closed { .. } => "campaign.closed",
            Self::InvalidTransition { .. } => "campaign.invalid_transition",
            Self::NoParticipants => "campaign.no_participants",
            Self::InvalidReason => "campaign.invalid_reason",
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Self::InvalidName => Some("name".to_owned()),
            Self::InvalidBrandId => Some("brand_id".to_owned()),
            Self::InvalidBudget(error) => error.field().map(|field| format!("budget.{field}")),
            Self::IncompleteSchedule { missing } => Some((*missing).to_owned()),
            Self::InvalidSchedule => Some("ends_at".to_owned()),
            Self::ScheduleOutOfRange { field } => Some((*field).to_owned()),
            Self::InvalidParticipant { index, reason } => {
                Some(participant_field(*index, reason.relative_field()))
            }
            Self::DuplicateParticipant { index, .. } => Some(participant_field(*index, "partner_id")),
            Self::TooManyParticipants { index, .. } => index.map(|index| format!("participants[{index}]")),
            Self::InvalidReason => Some("reason".to_owned()),
            Self::NotFound
            | Self::AlreadyExists
            | Self::ParticipantNotFound { .. }
            | Self::LastParticipant { .. }
            | Self::Closed { .. }
            | Self::InvalidTransition { .. }
            | Self::NoParticipants => None,
        }
    }

    fn category(&self) -> ErrorCategory {
        match self {
            Self::NotFound | Self::ParticipantNotFound { .. } => ErrorCategory::NotFound,
            Self::AlreadyExists => ErrorCategory::AlreadyExists,
            _ => ErrorCategory::Rule,
        }
    }
}
