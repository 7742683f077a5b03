//! The Partner aggregate: state rebuilt from events, and the rules that decide what a command
//! may change.

use std::fmt;

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use crate::partner_kind::PartnerKind;
use crate::text::trimmed_within;

use super::commands::PartnerCommand;
use super::errors::PartnerError;
use super::events::PartnerEvent;

const NAME_MAX_CHARS: usize = 100;
const PROFILE_MAX_CHARS: usize = 1000;
const REASON_MAX_CHARS: usize = 500;
/// RFC 5321 limits, in bytes (octets): whole address and local part.
const EMAIL_MAX_BYTES: usize = 254;
const EMAIL_LOCAL_MAX_BYTES: usize = 64;
const DOMAIN_LABEL_MAX_BYTES: usize = 63;

/// Where a partner is in its life cycle (see the [module documentation](super)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartnerStatus {
    /// May take part in campaigns.
    Active,
    /// Temporarily barred; can be reinstated.
    Suspended,
    /// Retired for good; final.
    Deactivated,
}

impl PartnerStatus {
    /// The lowercase name, identical to the serialized form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deactivated => "deactivated",
        }
    }

    /// Parses the exact lowercase name (as used in query strings); anything else is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "deactivated" => Some(Self::Deactivated),
            _ => None,
        }
    }

    /// Whether the partner is retired for good and accepts no more commands.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Deactivated)
    }
}

impl fmt::Display for PartnerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A partner, as rebuilt from its events.
///
/// The default value is a partner that is not registered yet ([`Partner::status`] is `None`);
/// only `RegisterPartner` is accepted then.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Partner {
    status: Option<PartnerStatus>,
    name: String,
    kind: Option<PartnerKind>,
    profile: String,
    email: Option<String>,
}

impl Partner {
    /// The life-cycle status, or `None` while the partner is not registered.
    pub fn status(&self) -> Option<PartnerStatus> {
        self.status
    }

    /// Display name (empty before registration).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What kind of partner this is (`None` only before registration).
    pub fn kind(&self) -> Option<PartnerKind> {
        self.kind
    }

    /// Profile description, possibly empty.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Contact address, if any.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// Checks `command` against every rule and returns the event it produces, without changing
    /// anything.
    fn decide(&self, command: PartnerCommand) -> Result<PartnerEvent, PartnerError> {
        use PartnerStatus::{Active, Suspended};
        match command {
            PartnerCommand::RegisterPartner {
                name,
                kind,
                profile,
                email,
            } => {
                if self.status.is_some() {
                    return Err(PartnerError::AlreadyExists);
                }
                let details = Details::validate(&name, &kind, &profile, email.as_deref())?;
                Ok(PartnerEvent::PartnerRegistered {
                    name: details.name,
                    kind: details.kind,
                    profile: details.profile,
                    email: details.email,
                })
            }
            PartnerCommand::UpdatePartnerProfile {
                name,
                kind,
                profile,
                email,
            } => {
                self.open_status()?;
                let details = Details::validate(&name, &kind, &profile, email.as_deref())?;
                Ok(PartnerEvent::PartnerProfileUpdated {
                    name: details.name,
                    kind: details.kind,
                    profile: details.profile,
                    email: details.email,
                })
            }
            PartnerCommand::SuspendPartner { reason } => {
                self.transition(&[Active], "suspend")?;
                let reason =
                    trimmed_within(&reason, 1, REASON_MAX_CHARS).ok_or(PartnerError::InvalidReason)?;
                Ok(PartnerEvent::PartnerSuspended {
                    reason: reason.to_owned(),
                })
            }
            PartnerCommand::ReinstatePartner => {
                self.transition(&[Suspended], "reinstate")?;
                Ok(PartnerEvent::PartnerReinstated)
            }
            PartnerCommand::DeactivatePartner => {
                self.transition(&[Active, Suspended], "deactivate")?;
                Ok(PartnerEvent::PartnerDeactivated)
            }
        }
    }

    /// The status of a partner that exists and is not deactivated; every command but register
    /// starts here.
    fn open_status(&self) -> Result<PartnerStatus, PartnerError> {
        match self.status {
            None => Err(PartnerError::NotFound),
            Some(status) if status.is_terminal() => Err(PartnerError::Deactivated),
            Some(status) => Ok(status),
        }
    }

    /// Checks that the life-cycle step `action` may start from the current status.
    fn transition(&self, allowed_from: &[PartnerStatus], action: &'static str) -> Result<(), PartnerError> {
        let from = self.open_status()?;
        if allowed_from.contains(&from) {
            Ok(())
        } else {
            Err(PartnerError::InvalidTransition { from, action })
        }
    }
}

/// A validated profile, shared by registration and update.
struct Details {
    name: String,
    kind: PartnerKind,
    profile: String,
    email: Option<String>,
}

impl Details {
    fn validate(name: &str, kind: &str, profile: &str, email: Option<&str>) -> Result<Self, PartnerError> {
        let name = trimmed_within(name, 1, NAME_MAX_CHARS).ok_or(PartnerError::InvalidName)?;
        let kind = PartnerKind::parse(kind).ok_or_else(|| PartnerError::InvalidKind {
            value: kind.to_owned(),
        })?;
        let profile = trimmed_within(profile, 0, PROFILE_MAX_CHARS).ok_or(PartnerError::InvalidProfile)?;
        Ok(Self {
            name: name.to_owned(),
            kind,
            profile: profile.to_owned(),
            email: normalize_email(email)?,
        })
    }
}

/// Validates an optional email address and returns it in stored form.
///
/// Surrounding whitespace is trimmed and an empty address means none. The domain is lowercased,
/// since domains are case-insensitive and this lets equal addresses compare equal; the local
/// part is kept exactly as given, since mail servers may treat its case as significant.
///
/// Deliberately pragmatic rather than a full RFC 5322 parser: at most 254 bytes, exactly one
/// `@`, a local part of 1 to 64 bytes without whitespace or control characters, and a domain of
/// at least two dot-separated labels, each 1 to 63 ASCII letters, digits or inner hyphens.
fn normalize_email(email: Option<&str>) -> Result<Option<String>, PartnerError> {
    let email = match email.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(email) => email,
    };
    let invalid = || PartnerError::InvalidEmail {
        value: email.to_owned(),
    };
    if email.len() > EMAIL_MAX_BYTES {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= EMAIL_LOCAL_MAX_BYTES
        && !local.chars().any(|c| c.is_whitespace() || c.is_control());
    let domain_ok = domain.contains('.') && domain.split('.').all(is_domain_label);
    if !local_ok || !domain_ok {
        return Err(invalid());
    }
    Ok(Some(format!("{local}@{}", domain.to_ascii_lowercase())))
}

/// One DNS label: 1 to 63 ASCII letters, digits or hyphens, not starting or ending with `-`.
/// (A second `@` lands in the domain and fails here.)
fn is_domain_label(label: &str) -> bool {
    (1..=DOMAIN_LABEL_MAX_BYTES).contains(&label.len())
        && label
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

impl Aggregate for Partner {
    const TYPE: &'static str = "Partner";
    type Command = PartnerCommand;
    type Event = PartnerEvent;
    type Error = PartnerError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            PartnerEvent::PartnerRegistered {
                name,
                kind,
                profile,
                email,
            } => {
                self.status = Some(PartnerStatus::Active);
                self.name = name;
                self.kind = Some(kind);
                self.profile = profile;
                self.email = email;
            }
            PartnerEvent::PartnerProfileUpdated {
                name,
                kind,
                profile,
                email,
            } => {
                self.name = name;
                self.kind = Some(kind);
                self.profile = profile;
                self.email = email;
            }
            PartnerEvent::PartnerSuspended { .. } => self.status = Some(PartnerStatus::Suspended),
            PartnerEvent::PartnerReinstated => self.status = Some(PartnerStatus::Active),
            PartnerEvent::PartnerDeactivated => self.status = Some(PartnerStatus::Deactivated),
        }
    }
}
