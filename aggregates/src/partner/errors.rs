//! Every rule a partner command can break.

use crate::error::{DomainError, ErrorCategory};
use crate::text::excerpt;

use super::aggregate::PartnerStatus;

/// Why a partner command was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartnerError {
    /// The command needs an existing partner, and there is none with this id.
    #[error("no partner exists with this id")]
    NotFound,
    /// `RegisterPartner` on an id that is already taken.
    #[error("a partner with this id is already registered")]
    AlreadyExists,
    /// The name is empty or longer than 100 characters after trimming.
    #[error("partner name must be 1 to 100 characters long, without control characters")]
    InvalidName,
    /// The kind is neither influencer nor affiliate.
    #[error("kind '{}' is not a partner kind; use 'influencer' or 'affiliate'", excerpt(.value))]
    InvalidKind {
        /// The kind as given.
        value: String,
    },
    /// The profile is longer than 1000 characters after trimming.
    #[error("profile must be at most 1000 characters long, without control characters")]
    InvalidProfile,
    /// The email address is malformed.
    #[error("'{}' is not a valid email address", excerpt(.value))]
    InvalidEmail {
        /// The address as given (trimmed).
        value: String,
    },
    /// The partner is deactivated and accepts no more commands.
    #[error("the partner is deactivated and can no longer be changed")]
    Deactivated,
    /// The status does not allow this life-cycle step.
    #[error("cannot {action} a partner that is {from}")]
    InvalidTransition {
        /// The current status.
        from: PartnerStatus,
        /// The attempted step: `"suspend"`, `"reinstate"` or `"deactivate"`.
        action: &'static str,
    },
    /// The suspension reason is empty or longer than 500 characters after trimming.
    #[error("the suspension reason must be 1 to 500 characters long, without control characters")]
    InvalidReason,
}

impl DomainError for PartnerError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "partner.not_found",
            Self::AlreadyExists => "partner.already_exists",
            Self::InvalidName => "partner.invalid_name",
            Self::InvalidKind { .. } => "partner.invalid_kind",
            Self::InvalidProfile => "partner.invalid_profile",
            Self::InvalidEmail { .. } => "partner.invalid_email",
            Self::Deactivated => "partner.deactivated",
            Self::InvalidTransition { .. } => "partner.invalid_transition",
            Self::InvalidReason => "partner.invalid_reason",
        }
    }

    fn field(&self) -> Option<String> {
        let field = match self {
            Self::InvalidName => "name",
            Self::InvalidKind { .. } => "kind",
            Self::InvalidProfile => "profile",
            Self::InvalidEmail { .. } => "email",
            Self::InvalidReason => "reason",
            Self::NotFound | Self::AlreadyExists | Self::Deactivated | Self::InvalidTransition { .. } => {
                return None
            }
        };
        Some(field.to_owned())
    }

    fn category(&self) -> ErrorCategory {
        match self {
            Self::NotFound => ErrorCategory::NotFound,
            Self::AlreadyExists => ErrorCategory::AlreadyExists,
            _ => ErrorCategory::Rule,
        }
    }
}
