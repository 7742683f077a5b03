//! The Alpes Partners event store: where commands' events are appended and from
//! where aggregates are loaded.
//!
//! Events live in the `events` table of postgres-es 0.5 (or, embedded, sqlite-es
//! 0.5), extended by our migrations with a global `position`, an `event_id`,
//! `recorded_at` and, on Postgres, the writing `transaction_id` (see `migrations/`).
//! Streams are read back through the cqrs-es repository of the backend; events are
//! appended by our own statements (`sql/postgres/append_events.sql`: one statement;
//! `sql/sqlite/`: one write transaction) because the repositories' `persist` can
//! neither return the positions it assigned nor commit an idempotency key with the
//! events.
//!
//! # Layout
//! - [`database`]: [`Database`], the backend (Postgres or SQLite) every layer uses,
//!   with its migrations.
//! - [`log`]: [`EventLog`], the database handle: append a command's events, find an
//!   idempotent command's earlier outcome.
//! - [`aggregate_store`]: [`AlpesEventStore`], a `cqrs_es::EventStore` over the log, with
//!   an in-process cache of aggregates so a command does not replay its whole stream.
//! - `group_commit` (private): concurrent appends on Postgres written in one statement.
//! - `notifier` (private): on Postgres, the NOTIFY that wakes readers once appends
//!   committed.
//! - [`executor`]: [`CommandExecutor`], which runs one command: load, `handle`, commit,
//!   with `If-Match` checks, bounded retries on concurrent writes and idempotency keys.
//! - [`reader`]: reading the log in commit-safe order ([`reader::LogCursor`]), and
//!   [`reader::LogWaker`], which wakes readers when events are appended.
//! - [`locks`]: per-aggregate locks that queue concurrent commands on one aggregate
//!   inside a process instead of letting them race.
//! - [`error`]: infrastructure errors, kept apart from the domain's rule violations.

pub mod aggregate_store;
pub mod database;
pub mod error;
pub mod executor;
mod group_commit;
pub mod locks;
pub mod log;
mod notifier;
pub mod reader;

pub use aggregate_store::{AlpesAggregateContext, AlpesEventStore};
pub use database::{connect_lazy, Backend, Database, SqliteDb, SqliteWrite};
pub use error::StoreError;
pub use executor::{CommandError, CommandExecutor, CommandOptions, CommandOutcome};
pub use log::{EventLog, IdempotencyClaim};

/// The Postgres migrations (`migrations/postgres/`).
pub use database::POSTGRES_MIGRATOR as MIGRATOR;

/// Applies every pending Postgres migration (tests and tools that hold a pool).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
