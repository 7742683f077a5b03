//! The Alpes Partners domain: brands run campaigns, partners (influencers and affiliates) join
//! them.
//!
//! This crate holds only the business rules, as [`cqrs_es`] aggregates: commands go in, events
//! come out, and nothing here does I/O, reads the clock or generates ids. The event store and
//! the HTTP API are built on top of it and depend on three contracts defined here: the
//! serialized shape of the events (stored forever), the aggregates' `TYPE` names, and the
//! [`DomainError`] codes and fields (seen by API clients).
//!
//! # Layout
//!
//! - [`error`]: the [`DomainError`] trait every rejection implements, and its [`ErrorCategory`];
//!   [`CommandName`], a command's name for metrics and logs;
//! - [`moment`]: [`moment::Moment`], a point in time as clients send one (RFC 3339 or
//!   epoch milliseconds).
//! - [`money`]: [`Money`] and ISO 4217 [`Currency`];
//! - [`partner_kind`]: [`PartnerKind`], shared by partners and campaign participants;
//! - [`campaign`]: the [`Campaign`] aggregate;
//! - [`partner`]: the [`Partner`] aggregate.
//!
//! Each aggregate module is split the same way: `commands`, `events`, `errors`, `aggregate`
//! (state and rules) and `tests` (given/when/then).

pub mod campaign;
pub mod error;
pub mod moment;
pub mod money;
pub mod partner;
pub mod partner_kind;
mod text;
pub mod upcasters;

pub use campaign::{
    Campaign, CampaignCommand, CampaignError, CampaignEvent, CampaignStatus, MoneyInput, Participant,
    ParticipantError, ParticipantInput, Schedule, CAMPAIGN_EVENT_TYPES, MAX_PARTICIPANTS,
};
pub use error::{CommandName, DomainError, ErrorCategory};
pub use money::{Currency, Money, MoneyError};
pub use partner::{Partner, PartnerCommand, PartnerError, PartnerEvent, PartnerStatus, PARTNER_EVENT_TYPES};
pub use partner_kind::PartnerKind;
