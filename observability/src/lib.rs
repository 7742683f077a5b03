//! What operators see of Alpes Partners: Prometheus metrics and W3C trace context.
//!
//! # Layout
//! - [`metrics`]: every metric's name and description, and the Prometheus recorder
//!   that `GET /metrics` renders ([`metrics::install`]).
//! - [`trace_context`]: [`TraceContext`], the W3C `traceparent` carried from a request
//!   into the events it causes, the messages published for them, and the tracking
//!   service's records.
//! - `http` (feature `http`): the axum middleware that counts and times requests by
//!   route template and gives each its trace context.
//!
//! A crate of its own, apart from the services, because the store, the relay and the
//! tracking service record figures and carry traces as much as the HTTP API does;
//! without the `http` feature it depends on no web framework.

pub mod metrics;
pub mod trace_context;

#[cfg(feature = "http")]
pub mod http;

pub use trace_context::{TraceContext, TRACEPARENT};
