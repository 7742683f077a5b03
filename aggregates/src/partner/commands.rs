//! Commands to the Partner aggregate.
//!
//! Like campaign commands they carry input as the client sent it; the aggregate validates.

/// Everything that can be asked of a partner.
#[derive(Debug, Clone, PartialEq)]
pub enum PartnerCommand {
    /// Registers a new, active partner.
    RegisterPartner {
        /// Display name, 1 to 100 characters.
        name: String,
        /// `"influencer"` or `"affiliate"`, in any case.
        kind: String,
        /// Free-text description, at most 1000 characters; may be empty.
        profile: String,
        /// Contact address; `None` or an empty string means no address.
        email: Option<String>,
    },
    /// Replaces the whole profile (fields left out are cleared, not kept).
    UpdatePartnerProfile {
        /// Display name, 1 to 100 characters.
        name: String,
        /// `"influencer"` or `"affiliate"`, in any case.
        kind: String,
        /// Free-text description, at most 1000 characters; may be empty.
        profile: String,
        /// Contact address; `None` or an empty string removes it.
        email: Option<String>,
    },
    /// Temporarily bars an active partner.
    SuspendPartner {
        /// Why, 1 to 500 characters; kept for the audit trail.
        reason: String,
    },
    /// Lifts a suspension.
    ReinstatePartner,
    /// Retires the partner for good.
    DeactivatePartner,
}

impl crate::CommandName for PartnerCommand {
    fn name(&self) -> &'static str {
        match self {
            PartnerCommand::RegisterPartner { .. } => "RegisterPartner",
            PartnerCommand::UpdatePartnerProfile { .. } => "UpdatePartnerProfile",
            PartnerCommand::SuspendPartner { .. } => "SuspendPartner",
            PartnerCommand::ReinstatePartner => "ReinstatePartner",
            PartnerCommand::DeactivatePartner => "DeactivatePartner",
        }
    }
}
