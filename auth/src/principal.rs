//! [`Principal`]: who a request acts for, and its [`Role`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// The metadata key under which every event records the subject that caused it.
pub const AUDIT_SUBJECT: &str = "principal_sub";
/// The metadata key under which every event records that subject's role.
pub const AUDIT_ROLE: &str = "principal_role";

/// What a token allows, broadly; the routes' rules say what each role may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, operations included.
    Admin,
    /// One brand's campaigns (`brand_id`), and reading partners.
    Brand,
    /// One partner's own record (`partner_id`) and the campaigns it takes part in.
    Partner,
    /// Records clicks and conversions.
    Tracker,
    /// Reads everything except the operators' `/admin/*`.
    Reader,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Brand,
        Role::Partner,
        Role::Tracker,
        Role::Reader,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Brand => "brand",
            Role::Partner => "partner",
            Role::Tracker => "tracker",
            Role::Reader => "reader",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a request acts for: a verified token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The token's subject: a user, a service, an API client.
    pub sub: String,
    pub role: Role,
    /// The brand a `brand` token acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<String>,
    /// The partner a `partner` token acts for (the partner's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
}

impl Principal {
    /// A principal of `role` with no brand or partner.
    pub fn new(sub: impl Into<String>, role: Role) -> Self {
        Principal {
            sub: sub.into(),
            role,
            brand_id: None,
            partner_id: None,
        }
    }

    /// A `brand` principal acting for `brand_id`.
    pub fn brand(sub: impl Into<String>, brand_id: impl Into<String>) -> Self {
        Principal {
            brand_id: Some(brand_id.into()),
            ..Principal::new(sub, Role::Brand)
        }
    }

    /// A `partner` principal acting for the partner `partner_id`.
    pub fn partner(sub: impl Into<String>, partner_id: impl Into<String>) -> Self {
        Principal {
            partner_id: Some(partner_id.into()),
            ..Principal::new(sub, Role::Partner)
        }
    }

    /// Whether the principal acts for brand `brand_id`.
    pub fn is_brand(&self, brand_id: &str) -> bool {
        self.role == Role::Brand && self.brand_id.as_deref() == Some(brand_id)
    }

    /// Whether the principal acts for partner `partner_id`.
    pub fn is_partner(&self, partner_id: &str) -> bool {
        self.role == Role::Partner && self.partner_id.as_deref() == Some(partner_id)
    }

    /// What every event it causes records about it ([`AUDIT_SUBJECT`], [`AUDIT_ROLE`]).
    pub fn audit_metadata(&self) -> [(String, String); 2] {
        [
            (AUDIT_SUBJECT.to_owned(), self.sub.clone()),
            (AUDIT_ROLE.to_owned(), self.role.as_str().to_owned()),
        ]
    }

    /// Checks what a token's claims must hold together: a subject, a brand for a
    /// `brand` token, a partner for a `partner` token; texts short and printable, since
    /// they go into the event log and the logs.
    pub(crate) fn validated(self) -> Result<Self, &'static str> {
        // Trimmed already: the domain trims the ids it stores, so a padded `brand_id`
        // would never match its own campaigns.
        fn text_ok(text: &str, max: usize) -> bool {
            !text.is_empty()
                && text.trim() == text
                && text.chars().count() <= max
                && !text.chars().any(char::is_control)
        }
        if !text_ok(&self.sub, 200) {
            return Err("the token's sub must be 1 to 200 printable characters, not padded");
        }
        match (self.role, &self.brand_id, &self.partner_id) {
            (Role::Brand, Some(brand), _) if text_ok(brand, 64) => Ok(self),
            (Role::Brand, _, _) => Err("a brand token must name its brand_id (1 to 64 characters)"),
            (Role::Partner, _, Some(partner)) if text_ok(partner, 64) => Ok(self),
            (Role::Partner, _, _) => Err("a partner token must name its partner_id (1 to 64 characters)"),
            _ => Ok(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_as_they_are_written() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn a_brand_or_partner_token_must_say_which() {
        assert!(Principal::new("svc", Role::Brand).validated().is_err());
        assert!(Principal::new("svc", Role::Partner).validated().is_err());
        assert!(Principal::brand("svc", "b-1").validated().is_ok());
        assert!(Principal::partner("svc", "p-1").validated().is_ok());
        assert!(Principal::new("", Role::Admin).validated().is_err());
        assert!(Principal::new("a\nb", Role::Reader).validated().is_err());
        assert!(Principal::brand("svc", "x".repeat(65)).validated().is_err());
        assert!(Principal::brand("svc", " b-1").validated().is_err());
    }

    #[test]
    fn the_audit_metadata_names_subject_and_role() {
        let metadata = Principal::brand("alice", "b-1").audit_metadata();
        assert_eq!(metadata[0], (AUDIT_SUBJECT.to_owned(), "alice".to_owned()));
        assert_eq!(metadata[1], (AUDIT_ROLE.to_owned(), "brand".to_owned()));
    }
}
