//! The Alpes Partners event store: where commands' events are appended, from where
//! aggregates are loaded, and the storage seam every other layer goes through.
//!
//! Events live in the `events` table of postgres-es 0.5 (or, embedded, sqlite-es
//! 0.5), extended by our migrations with a global `position`, an `event_id`,
//! `recorded_at` and, on Postgres, the writing `transaction_id` (see `migrations/`).
//! Streams are read back through the cqrs-es repository of the backend; events are
//! appended by our own statements because the repositories' `persist` can neither
//! return the positions it assigned nor commit an idempotency key with the events.
//!
//! # Layout
//! - `database`: [`Database`], the backend (Postgres or SQLite) every layer uses, and
//!   the one place that looks at which one it is; [`PerBackend`], how another crate
//!   picks its own statements for it.
//! - [`postgres`], [`sqlite`]: each backend, with its `.sql` files beside it: the
//!   log's statements, leases, wake-ups, and what its errors mean. Other crates'
//!   backend folders build on [`postgres::PgDb`] and [`sqlite::SqliteDb`].
//! - `storage` (private): the trait both backends implement for the store.
//! - `log`: [`EventLog`], appending a command's events ([`Appended`], [`CommitError`]),
//!   idempotent commands' earlier outcomes.
//! - `reader`: reading the log in commit-safe order ([`LogCursor`], [`RecordedEvent`],
//!   [`Database::read_after`]) and [`LogWaker`], which wakes readers after appends.
//! - `consumer`: [`LogConsumer`], the one runtime that follows the log for a
//!   [`LogHandler`] (projectors, the relay): leadership, tail, backoff, poison events.
//! - `commands`: asynchronous commands ([`CommandQueue`]: accepted, then their outcome)
//!   and [`CommandWorker`], the embedded command queue, which runs them through a
//!   [`RunCommand`] without a broker.
//! - `lease`: [`Lease`], the one way to be the only one doing something across processes.
//! - `backoff`: [`Backoff`], the waits between attempts.
//! - `error`: [`StoreError`], and [`DbFault`], the one classifier of database errors.
//! - `aggregate_store`: [`AlpesEventStore`], a `cqrs_es::EventStore` over the log, with
//!   an in-process cache of aggregates so a command does not replay its whole stream.
//! - `executor`: [`CommandExecutor`], which runs one command: load, `handle`, commit,
//!   with `If-Match` checks, bounded retries on concurrent writes and idempotency keys.
//! - `locks`: per-aggregate locks that queue concurrent commands on one aggregate
//!   inside a process instead of letting them race.

mod aggregate_store;
mod backoff;
mod commands;
mod consumer;
mod database;
mod error;
mod executor;
mod lease;
mod locks;
mod log;
pub mod postgres;
mod reader;
pub mod sqlite;
mod storage;

pub use aggregate_store::{AlpesAggregateContext, AlpesEventStore};
pub use backoff::Backoff;
pub use commands::{
    Backlog, CommandCounters, CommandCounts, CommandQueue, CommandRecord, CommandStatus, CommandToRun,
    CommandWorker, NewCommand, Outcome, RunCommand, RunResult, SubmitError, Submitted,
};
pub use consumer::{
    ConsumerSettings, ConsumerState, ConsumerStatus, ConsumerTask, HandleError, Handled, LogConsumer,
    LogHandler, Resume,
};
pub use database::{Backend, Database, PerBackend, PoolFigures};
pub use error::{DbFault, StoreError};
pub use executor::{CommandError, CommandExecutor, CommandOptions, CommandOutcome, CORRELATION_ID};
pub use lease::{Lease, LeaseError};
pub use log::{
    Appended, CommitError, CommittedEvent, EventLog, IdempotencyClaim, IdempotentOutcome, NewEvent,
};
pub use reader::{seconds_since, LogCursor, LogWaker, RecordedEvent};
