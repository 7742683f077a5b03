//! Alpes Partners: an event-sourced CQRS backend for influencer and affiliate
//! marketing. Brands run campaigns; partners register and join them.
//!
//! This crate is the `alpes` binary's library: configuration, startup and wiring.
//! The architecture lives in the workspace's crates:
//!
//! # Layout
//! - `aggregates/`: the domain. Campaign and Partner aggregates: commands, events, rules. Pure.
//! - `store/`: the Postgres event store and the command executor (If-Match,
//!   retries, idempotency keys).
//! - `api/`: the axum HTTP API.
//! - `bus/`: the outbox relay (log → Pulsar, versioned integration events).
//! - `tracking/`: the tracking service, fed only by the Pulsar topics.
//! - `migrations/`: the SQL schema, applied on start and by `alpes migrate`.
//! - `projections/`: projectors that build the read models from the log; rebuilds.
//! - here: [`cli`] (the command line), [`operations`] (`alpes projections …`),
//!   [`services`] (`alpes relay`, `alpes tracking`),
//!   [`server`] (serving a router with timeouts, caps, rate limits, protective headers),
//!   [`settings`] (typed configuration),
//!   [`startup`] ([`startup::Application`]: build, then run until stopped),
//!   [`telemetry`] (logs).

pub mod cli;
pub mod operations;
pub mod server;
pub mod services;
pub mod settings;
pub mod startup;
pub mod telemetry;
