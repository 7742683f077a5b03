//! The contract every domain error fulfils so that outer layers can report it without knowing
//! the aggregate it came from.
//!
//! The HTTP API turns a [`DomainError`] into an RFC 9457 problem document: [`DomainError::code`]
//! becomes the machine-readable type, [`DomainError::field`] points at the offending part of the
//! request body, [`DomainError::category`] picks the status code and `Display` is the `detail`
//! shown to people. Keeping that mapping here, next to the rules, means a new rule cannot be added
//! without deciding how clients will see it.

/// The broad kind of a rejection, which the API maps to an HTTP status.
///
/// Deliberately coarse: clients branch on [`DomainError::code`], the category only has to pick
/// the right status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    /// The addressed aggregate or one of its members does not exist (HTTP 404).
    NotFound,
    /// The aggregate to create already exists (HTTP 409).
    AlreadyExists,
    /// The command breaks a business rule or carries invalid data (HTTP 422).
    Rule,
}

/// A business-rule rejection with a stable identity.
///
/// `Display` must be a complete human sentence; it is shown to API clients verbatim.
pub trait DomainError: std::error::Error + Send + Sync + 'static {
    /// Stable machine-readable code such as `"campaign.invalid_transition"` or
    /// `"money.unknown_currency"`. Clients depend on it, so it never changes once published.
    fn code(&self) -> &'static str;

    /// The offending field as a JSON path into the request body, e.g. `"budget.currency"`,
    /// `"participants[1].kind"` or `"name"`; `None` when the error is not about one field.
    fn field(&self) -> Option<String>;

    /// Which kind of rejection this is.
    fn category(&self) -> ErrorCategory;
}

/// A command's name, as metrics and logs show it: its variant (`CreateCampaign`).
pub trait CommandName {
    fn name(&self) -> &'static str;
}
