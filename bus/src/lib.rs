//! The outbox relay: forwards every committed domain event to the message bus as a versioned
//! integration event, at least once, in order per aggregate.
//!
//! ```text
//!  events table ──read_after (commit order)──> Relay ──encode──> Publisher ──> Pulsar topics
//!  (the outbox)        ▲                         │  (v1 CloudEvents)  (send_non_blocking,   campaign-events
//!                      └── relay_checkpoints <───┘  after receipts)     receipts)           partner-events
//!                                                                   or ──> in-process subscribers
//!                                                                          (receipt = applied)
//! ```
//!
//! - The event log is the outbox: an event exists if and only if its command committed, so
//!   no separate outbox table has to be filled in the same transaction.
//! - The checkpoint moves only behind the broker's send receipts: after any crash the relay
//!   resends from it. At-least-once: consumers deduplicate on the event id, which is the
//!   CloudEvent `id` and the `event_id` message property.
//! - One relay publishes at a time, across processes (a [`store::Lease`], and Exclusive
//!   producers on the broker side).
//! - Both storage backends ([`store::Database`]: Postgres, SQLite) and two transports:
//!   Pulsar, or, without a broker, the [`InProcessTransport`], which hands each message to
//!   subscribers in the same process and receipts it once they applied it.
//! - What is published is a public contract ([`contract::v1`], a crate of its own that
//!   consumers link instead of this one), mapped from the domain events ([`mapping`]) apart
//!   from any transport ([`transport`]), and documented by the JSON Schema files in
//!   `contract/schemas/v1/`.
//!
//! ```no_run
//! # async fn run(database: store::Database) {
//! use bus::{PulsarSettings, PulsarTransport, Relay, RelayConfig};
//! let transport = PulsarTransport::new(PulsarSettings::new("pulsar://127.0.0.1:6650"));
//! let relay = Relay::new(database, transport, RelayConfig::default()).spawn();
//! let status = relay.handle().status().await; // GET /relay
//! relay.shutdown().await;
//! # }
//! ```
//!
//! # Layout
//! - [`mapping`]: domain event (as stored) → v1 integration event.
//! - [`message`]: [`OutgoingMessage`], an encoded integration event with its key and
//!   properties, for any transport.
//! - [`transport`]: the [`Transport`] / [`Publisher`] traits the relay publishes through.
//! - [`pulsar_transport`]: [`PulsarTransport`], the Apache Pulsar implementation.
//! - [`in_process`]: [`InProcessTransport`], delivery to [`Subscriber`]s of this process.
//! - [`relay`]: [`Relay`], a handler of the store's log-consumer runtime
//!   ([`store::LogConsumer`], which owns the lease, the tail, backoff and stalling): encode,
//!   send, await receipts, checkpoint.
//! - [`status`]: [`RelayStatus`], what `GET /relay` shows.
//! - [`commands`]: the seed front door's commands on Pulsar: their publisher, the
//!   consumers of the command topics, the outcomes topic.
//! - [`acks`]: when a Pulsar consumer acknowledges, batches included (the tracking
//!   service's consumers and the command consumers).
//! - `checkpoints`: the relay's row in `relay_checkpoints`, with each backend's statements
//!   in `postgres/` and `sqlite/`.

pub mod acks;
mod checkpoints;
pub mod commands;
pub mod in_process;
pub mod mapping;
pub mod message;
mod postgres;
pub mod pulsar_transport;
pub mod relay;
mod sqlite;
pub mod status;
pub mod transport;

pub use commands::PublishCommand;
pub use in_process::{DeliveryError, InProcessConfig, InProcessPublisher, InProcessTransport, Subscriber};
pub use message::{EventStream, OutgoingMessage};
pub use pulsar_transport::{PulsarSettings, PulsarTransport, DEFAULT_CAMPAIGN_TOPIC, DEFAULT_PARTNER_TOPIC};
pub use relay::{Relay, RelayConfig, RelayHandle, RelayTask};
pub use status::{RelayProgress, RelayState, RelayStatus};
pub use transport::{PublishError, Publisher, Receipt, Transport};
