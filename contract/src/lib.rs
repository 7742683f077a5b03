//! The integration-event contract: what the outbox relay (`bus`) publishes on the
//! `campaign-events` and `partner-events` topics and what consumers (`tracking`) read.
//!
//! A crate of its own so that the producer and its consumers share the contract and nothing
//! else: a consumer links neither the relay nor the write side, and the contract's types,
//! its JSON Schemas and their tests live in one place.
//!
//! ```
//! let payload = br#"{"specversion": "1.0", "id": "0190a5c8-7b6e-7c3a-9f0e-2d4b5a6c7d8e",
//!     "source": "/alpes/campaigns", "type": "alpes.campaign.activated.v1", "subject": "c",
//!     "time": "2026-11-22T10:00:00Z", "datacontenttype": "application/json",
//!     "aggregatesequence": 3, "data": {"campaign_id": "c"}}"#;
//! let event = contract::v1::decode(payload).unwrap();
//! assert_eq!(event.data.event_type(), contract::v1::types::CAMPAIGN_ACTIVATED);
//! ```
//!
//! # Layout
//! - [`v1`]: the integration events of schema version 1 (CloudEvents envelope, `data`
//!   structs, type names) and [`v1::decode`] for consumers.
//! - [`v1::commands`]: the seed front door's command messages on the `comando-*` topics.
//! - [`v1::schema`]: the JSON Schema files of v1 (`contract/schemas/v1/`, embedded) and a
//!   checker of the part of JSON Schema they use, with which tests hold events and command
//!   messages against them.
//! - `tests/schemas.rs`: the schemas list exactly the v1 types and every v1 type's `data`
//!   matches its schema (bus's `tests/schemas.rs` checks what the relay really publishes).
//! - `tests/command_schemas.rs`: the same for the commands and `commands.schema.json`.

pub mod v1;
