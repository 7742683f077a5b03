//! The Alpes Partners event store: where commands' events are appended and from
//! where aggregates are loaded.
//!
//! Events live in the Postgres `events` table of postgres-es 0.5, extended by our
//! migrations with a global `position`, an `event_id`, `recorded_at` and the writing
//! `transaction_id` (see `migrations/postgres/`). Streams are read back through
//! postgres-es's `PostgresEventRepository`; events are appended by our own single
//! statement (`sql/append_events.sql`) because postgres-es's `persist` can neither
//! return the positions it assigned nor commit an idempotency key with the events.
//!
//! # Layout
//! - [`log`]: [`EventLog`], the database handle: append a command's events, find an
//!   idempotent command's earlier outcome.
//! - [`aggregate_store`]: [`AlpesEventStore`], a `cqrs_es::EventStore` over the log, with
//!   an in-process cache of aggregates so a command does not replay its whole stream.
//! - [`executor`]: [`CommandExecutor`], which runs one command: load, `handle`, commit,
//!   with `If-Match` checks, bounded retries on concurrent writes and idempotency keys.
//! - [`reader`]: reading the log in commit-safe order ([`reader::LogCursor`]), and
//!   [`reader::LogWaker`], which wakes readers when events are appended.
//! - [`locks`]: per-aggregate locks that queue concurrent commands on one aggregate
//!   inside a process instead of letting them race.
//! - [`error`]: infrastructure errors, kept apart from the domain's rule violations.

pub mod aggregate_store;
pub mod error;
pub mod executor;
pub mod locks;
pub mod log;
pub mod reader;

pub use aggregate_store::{AlpesAggregateContext, AlpesEventStore};
pub use error::StoreError;
pub use executor::{CommandError, CommandExecutor, CommandOptions, CommandOutcome};
pub use log::{EventLog, IdempotencyClaim};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::time::Duration;

/// The migrations in `migrations/postgres/`, embedded in the binary so `alpes migrate`
/// and `alpes serve` need no files beside them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Opens a pool to the event store's database. Connections are made lazily, so a
/// database that is down makes `/ready` fail rather than the process refuse to start.
pub fn connect_lazy(options: PgConnectOptions, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        // A request waits this long for a connection before it fails (503 on /ready,
        // an opaque 500 on a command) instead of hanging.
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options)
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
