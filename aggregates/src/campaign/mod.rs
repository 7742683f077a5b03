//! The Campaign aggregate: a brand's marketing campaign with a budget, an optional schedule and
//! the partners taking part in it.
//!
//! Life cycle:
//!
//! ```text
//!            Activate         Pause
//!   draft ───────────▶ active ──────▶ paused
//!     │                 │  ▲  Resume    │
//!     │                 │  └────────────┘
//!     │                 │ Complete      │ Complete
//!     │                 ▼               ▼
//!     │               completed ◀───────┘
//!     └── Cancel (from draft, active or paused) ──▶ cancelled
//! ```
//!
//! `completed` and `cancelled` are final: every command on them fails with
//! [`CampaignError::Closed`]. Participants, budget and schedule can change in any open status.
//!
//! - [`commands`](CampaignCommand): what clients ask for, carrying raw, unvalidated input;
//! - [`events`](CampaignEvent): what happened, the stored source of truth;
//! - [`errors`](CampaignError): every rule a command can break;
//! - [`Campaign`]: the state rebuilt from events and the rules that decide.

mod aggregate;
mod commands;
mod errors;
mod events;
#[cfg(test)]
mod tests;

pub use aggregate::{Campaign, CampaignStatus, MAX_PARTICIPANTS};
pub use commands::{CampaignCommand, MoneyInput, ParticipantInput};
pub use errors::{CampaignError, ParticipantError};
pub use events::{CampaignEvent, Participant, Schedule, CAMPAIGN_EVENT_TYPES, PARTICIPANT_ADDED_VERSION};
