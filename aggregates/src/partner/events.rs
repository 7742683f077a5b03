//! Events of the Partner aggregate: the stored source of truth.
//!
//! Persisted as JSON: never rename a variant or field, and never change an
//! `event_type`/`event_version` once released.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::partner_kind::PartnerKind;

/// Something that happened to a partner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PartnerEvent {
    /// A partner was registered and is active.
    PartnerRegistered {
        /// Display name (trimmed).
        name: String,
        /// What kind of partner this is.
        kind: PartnerKind,
        /// Profile description (trimmed, possibly empty).
        profile: String,
        /// Contact address (trimmed, domain lowercased), if any.
        email: Option<String>,
    },
    /// The whole profile was replaced.
    PartnerProfileUpdated {
        /// Display name (trimmed).
        name: String,
        /// What kind of partner this is.
        kind: PartnerKind,
        /// Profile description (trimmed, possibly empty).
        profile: String,
        /// Contact address (trimmed, domain lowercased), if any.
        email: Option<String>,
    },
    /// The partner was suspended.
    PartnerSuspended {
        /// Why (trimmed).
        reason: String,
    },
    /// The suspension was lifted.
    PartnerReinstated,
    /// The partner was retired for good.
    PartnerDeactivated,
}

/// Every [`PartnerEvent`] `event_type`, for projections and the API to subscribe to or list.
pub const PARTNER_EVENT_TYPES: &[&str] = &[
    "PartnerRegistered",
    "PartnerProfileUpdated",
    "PartnerSuspended",
    "PartnerReinstated",
    "PartnerDeactivated",
];

impl DomainEvent for PartnerEvent {
    /// The variant name; stored with the event, so it never changes.
    fn event_type(&self) -> String {
        let event_type = match self {
            Self::PartnerRegistered { .. } => "PartnerRegistered",
            Self::PartnerProfileUpdated { .. } => "PartnerProfileUpdated",
            Self::PartnerSuspended { .. } => "PartnerSuspended",
            Self::PartnerReinstated => "PartnerReinstated",
            Self::PartnerDeactivated => "PartnerDeactivated",
        };
        event_type.to_owned()
    }

    /// Version of the payload shape; every event is still at its first version.
    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}
