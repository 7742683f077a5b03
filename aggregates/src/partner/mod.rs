//! The Partner aggregate: an influencer or affiliate registered on the platform.
//!
//! Life cycle:
//!
//! ```text
//!            Suspend
//!   active ──────────▶ suspended
//!     │    ◀──────────    │
//!     │     Reinstate     │
//!     └──── Deactivate ───┴──▶ deactivated
//! ```
//!
//! `deactivated` is final: every command on it fails with [`PartnerError::Deactivated`]. The
//! profile can be updated while active or suspended.
//!
//! - [`commands`](PartnerCommand): what clients ask for, carrying raw, unvalidated input;
//! - [`events`](PartnerEvent): what happened, the stored source of truth;
//! - [`errors`](PartnerError): every rule a command can break;
//! - [`Partner`]: the state rebuilt from events and the rules that decide.

mod aggregate;
mod commands;
mod errors;
mod events;
#[cfg(test)]
mod tests;

pub use aggregate::{Partner, PartnerStatus};
pub use commands::PartnerCommand;
pub use errors::PartnerError;
pub use events::{PartnerEvent, PARTNER_EVENT_TYPES};
