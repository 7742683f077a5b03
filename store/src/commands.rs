//! Asynchronous commands: accepted now, executed soon after, their outcome kept.
//!
//! The seed system's front door (`POST /crear-campaign` and the like) answers `202` once
//! a command is durably accepted, and `GET /commands/{id}` says later what became of it.
//! This module is that bookkeeping, whatever carries the command:
//! - [`CommandQueue`]: the `commands` table: [`CommandQueue::submit`] (with the client's
//!   idempotency key), [`CommandQueue::find`], [`CommandQueue::complete`] (the first
//!   outcome is kept), [`CommandQueue::wait_for`] (an outcome, within a deadline).
//! - [`RunCommand`]: what executes a command (the API's executors, the tracking
//!   service); the queue never knows what a command means.
//! - [`CommandWorker`]: the embedded command queue (no broker): executes the `queued`
//!   commands of this database in the order they were accepted, under the lease
//!   `command-queue:embedded` (renewed between commands), so one process at a time
//!   runs them. A crash loses nothing:
//!   a command stays `pending` until its outcome is stored, and a command run twice
//!   (after a crash between its commit and its outcome) writes nothing new, because
//!   runners execute it under an idempotency key made of its id.
//!
//! With a broker, the commands travel on its topics instead (the `bus` crate) and only
//! their outcomes come back here.

use crate::backoff::Backoff;
use crate::consumer::ConsumerTask;
use crate::database::Database;
use crate::lease::Lease;
use crate::PerBackend;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

/// Where a command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    Pending,
    Succeeded,
    Failed,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Pending => "pending",
            CommandStatus::Succeeded => "succeeded",
            CommandStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, sqlx::Error> {
        match text {
            "pending" => Ok(CommandStatus::Pending),
            "succeeded" => Ok(CommandStatus::Succeeded),
            "failed" => Ok(CommandStatus::Failed),
            other => Err(sqlx::Error::Decode(
                format!("unknown command status {other:?}").into(),
            )),
        }
    }
}

/// A command to accept.
#[derive(Debug, Clone)]
pub struct NewCommand {
    pub command_id: Uuid,
    /// Its CloudEvents type, `alpes.command.register-campaign.v1`.
    pub command_type: String,
    /// The command itself (the CloudEvent's `data`).
    pub payload: Value,
    /// Executed by the embedded queue (`true`) or carried by a broker (`false`).
    pub queued: bool,
    /// The client's `Idempotency-Key`, with a hash of its request.
    pub idempotency: Option<crate::IdempotencyClaim>,
    /// Who issued it (the requests' principal, as JSON): its run acts as them.
    pub issued_by: Option<Value>,
}

/// A command as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRecord {
    pub command_id: Uuid,
    pub command_type: String,
    pub payload: Value,
    pub status: CommandStatus,
    pub submitted_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Succeeded: the answer; failed: the RFC 9457 problem.
    pub result: Option<Value>,
    /// Who issued it, when known.
    pub issued_by: Option<Value>,
}

/// What [`CommandQueue::submit`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    /// Accepted now.
    Accepted(CommandRecord),
    /// The idempotency key was used before for the same request: its command.
    Replayed(CommandRecord),
}

impl Submitted {
    pub fn record(&self) -> &CommandRecord {
        match self {
            Submitted::Accepted(record) | Submitted::Replayed(record) => record,
        }
    }
}

/// Why a command was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The idempotency key was used before for a different request.
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// A request with the same key was accepted and withdrawn meanwhile: retry.
    #[error("a request with the same idempotency key was submitted at the same time")]
    Raced,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The final outcome of a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The command's answer (what the native endpoint would have answered).
    Succeeded(Value),
    /// The problem the native endpoint would have answered (RFC 9457 JSON).
    Failed(Value),
}

/// What running a command came to.
#[derive(Debug, Clone, PartialEq)]
pub enum RunResult {
    Done(Outcome),
    /// It could not run now (the database is unreachable): try again later.
    Retry(String),
}

/// A command as a runner receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandToRun {
    pub command_id: Uuid,
    pub command_type: String,
    pub payload: Value,
    /// Who issued it, when known: the runner acts as them.
    pub issued_by: Option<Value>,
}

/// Executes commands of the types it knows.
#[async_trait]
pub trait RunCommand: Send + Sync {
    /// Executes `command` under an idempotency key made of its id: run twice, it writes
    /// nothing the second time and answers the same.
    async fn run(&self, command: &CommandToRun) -> RunResult;
}

/// How many commands have come to each end, in this process (for status endpoints).
#[derive(Debug, Default)]
pub struct CommandCounters {
    pub received: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub dead_lettered: AtomicU64,
}

/// The counters, read at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CommandCounts {
    pub received: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub dead_lettered: u64,
}

impl CommandCounters {
    pub fn snapshot(&self) -> CommandCounts {
        CommandCounts {
            received: self.received.load(Ordering::Relaxed),
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
        }
    }

    /// Counts an outcome stored for a command received.
    pub fn count(&self, outcome: &Outcome) {
        let counter = match outcome {
            Outcome::Succeeded(_) => &self.succeeded,
            Outcome::Failed(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The statements of the `commands` table, on one backend (`postgres/commands.rs`,
/// `sqlite/commands.rs`).
#[async_trait]
pub(crate) trait CommandStorage: Send + Sync {
    /// Inserts the command; `false` when its id or its idempotency key exists already.
    async fn insert(&self, command: &NewCommand, submitted_at: DateTime<Utc>) -> Result<bool, sqlx::Error>;
    async fn find(&self, command_id: Uuid) -> Result<Option<CommandRecord>, sqlx::Error>;
    /// The command accepted under an idempotency key, with its request's hash.
    async fn find_by_key(&self, key: &str) -> Result<Option<(CommandRecord, Option<Vec<u8>>)>, sqlx::Error>;
    /// The oldest `queued` commands still pending.
    async fn pending(&self, limit: i64) -> Result<Vec<CommandRecord>, sqlx::Error>;
    /// Stores the outcome unless one is stored already (inserting the command if it
    /// came from elsewhere, a topic); `false` when an earlier outcome was kept.
    async fn complete(
        &self,
        command: &CommandToRun,
        status: CommandStatus,
        result: &Value,
        completed_at: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error>;
    /// Removes a command still pending (it could not be handed to its broker).
    async fn withdraw(&self, command_id: Uuid) -> Result<(), sqlx::Error>;
    async fn pending_count(&self) -> Result<Backlog, sqlx::Error>;
}

/// The commands accepted and still without an outcome: the consumers' lag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub pending: i64,
    /// When the oldest of them was accepted.
    pub oldest_submitted_at: Option<DateTime<Utc>>,
}

impl PerBackend for Box<dyn CommandStorage> {
    fn postgres(db: &crate::postgres::PgDb) -> Self {
        Box::new(crate::postgres::commands::Commands::new(db))
    }
    fn sqlite(db: &crate::sqlite::SqliteDb) -> Self {
        Box::new(crate::sqlite::commands::Commands::new(db))
    }
}

/// The `commands` table of a database. Cheap to clone.
#[derive(Clone)]
pub struct CommandQueue {
    db: Database,
    storage: Arc<dyn CommandStorage>,
    /// Bumped after every outcome this process stores: wakes [`CommandQueue::wait_for`].
    completed: Arc<watch::Sender<u64>>,
    /// Wakes the embedded worker when a queued command is accepted here.
    submitted: Arc<Notify>,
}

/// How often a wait for an outcome looks at the table for outcomes stored by other
/// processes (those stored by this one wake it at once).
const OUTCOME_POLL: Duration = Duration::from_millis(100);

impl CommandQueue {
    pub fn new(db: &Database) -> Self {
        let storage: Box<dyn CommandStorage> = db.per_backend();
        let (completed, _) = watch::channel(0);
        CommandQueue {
            db: db.clone(),
            storage: storage.into(),
            completed: Arc::new(completed),
            submitted: Arc::new(Notify::new()),
        }
    }

    /// Accepts a command, durably. With an idempotency key used before for the same
    /// request, answers that request's command instead and stores nothing.
    pub async fn submit(&self, command: NewCommand) -> Result<Submitted, SubmitError> {
        if let Some(earlier) = self.earlier(command.idempotency.as_ref()).await? {
            return Ok(Submitted::Replayed(earlier));
        }
        let submitted_at = now();
        if self.storage.insert(&command, submitted_at).await? {
            if command.queued {
                self.submitted.notify_one();
            }
            return Ok(Submitted::Accepted(CommandRecord {
                command_id: command.command_id,
                command_type: command.command_type,
                payload: command.payload,
                status: CommandStatus::Pending,
                submitted_at,
                completed_at: None,
                result: None,
                issued_by: command.issued_by,
            }));
        }
        // A concurrent request with the same key was accepted first.
        match self.earlier(command.idempotency.as_ref()).await? {
            Some(earlier) => Ok(Submitted::Replayed(earlier)),
            None => Err(SubmitError::Raced),
        }
    }

    async fn earlier(
        &self,
        claim: Option<&crate::IdempotencyClaim>,
    ) -> Result<Option<CommandRecord>, SubmitError> {
        let Some(claim) = claim else { return Ok(None) };
        match self.storage.find_by_key(&claim.key).await? {
            Some((record, hash)) if hash.as_deref() == Some(claim.request_hash.as_slice()) => {
                Ok(Some(record))
            }
            Some(_) => Err(SubmitError::IdempotencyKeyReused),
            None => Ok(None),
        }
    }

    /// Removes a command that could not be handed to its broker (the client was told
    /// it was not accepted). A command already completed is kept.
    pub async fn withdraw(&self, command_id: Uuid) -> Result<(), sqlx::Error> {
        self.storage.withdraw(command_id).await
    }

    pub async fn find(&self, command_id: Uuid) -> Result<Option<CommandRecord>, sqlx::Error> {
        self.storage.find(command_id).await
    }

    /// The commands still without an outcome.
    pub async fn backlog(&self) -> Result<Backlog, sqlx::Error> {
        self.storage.pending_count().await
    }

    /// Stores a command's outcome. The first outcome stored is kept: `false` (and
    /// nothing written) when the command had one already.
    pub async fn complete(&self, command: &CommandToRun, outcome: &Outcome) -> Result<bool, sqlx::Error> {
        let (status, result) = match outcome {
            Outcome::Succeeded(answer) => (CommandStatus::Succeeded, answer),
            Outcome::Failed(problem) => (CommandStatus::Failed, problem),
        };
        let stored = self.storage.complete(command, status, result, now()).await?;
        self.completed.send_modify(|count| *count = count.wrapping_add(1));
        Ok(stored)
    }

    /// The command once it has an outcome, or as it stands when `timeout` has passed.
    /// `None`: no such command.
    pub async fn wait_for(
        &self,
        command_id: Uuid,
        timeout: Duration,
    ) -> Result<Option<CommandRecord>, sqlx::Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut completed = self.completed.subscribe();
        loop {
            completed.mark_unchanged();
            let record = self.storage.find(command_id).await?;
            match &record {
                Some(record) if record.status == CommandStatus::Pending => {}
                _ => return Ok(record),
            }
            let wake = tokio::time::Instant::now() + OUTCOME_POLL;
            if wake >= deadline {
                let _ = tokio::time::timeout_at(deadline, completed.changed()).await;
                return self.storage.find(command_id).await;
            }
            let _ = tokio::time::timeout_at(wake, completed.changed()).await;
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// Milliseconds are what both backends keep.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_default()
}

/// The lease of the embedded queue's worker.
const WORKER_LEASE: &str = "command-queue:embedded";
/// How long a SQLite lease lasts without a renewal, and how often it is renewed.
const LEASE_DURATION: Duration = Duration::from_secs(10);
const RENEW_EVERY: Duration = Duration::from_secs(3);
/// How often a worker looks for commands accepted by other processes (its own wake it).
const IDLE_POLL: Duration = Duration::from_millis(250);
/// Commands read per round.
const BATCH: i64 = 32;

/// The embedded command queue's worker: runs the `queued` commands of a database.
pub struct CommandWorker {
    queue: CommandQueue,
    runner: Arc<dyn RunCommand>,
    counters: Arc<CommandCounters>,
    holder: String,
}

impl CommandWorker {
    pub fn new(queue: CommandQueue, runner: Arc<dyn RunCommand>) -> Self {
        CommandWorker {
            queue,
            runner,
            counters: Arc::default(),
            holder: format!("command-worker-{}", Uuid::now_v7()),
        }
    }

    /// Its counters, for a status endpoint.
    pub fn counters(&self) -> Arc<CommandCounters> {
        self.counters.clone()
    }

    /// Runs in the background until shut down (see [`ConsumerTask`]).
    pub fn spawn(self) -> ConsumerTask {
        let (stop, stopped) = watch::channel(false);
        let join = tokio::spawn(self.run(stopped));
        ConsumerTask::new(stop, join)
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        while !*stop.borrow() {
            let lease =
                match Lease::try_acquire(&self.queue.db, WORKER_LEASE, &self.holder, LEASE_DURATION).await {
                    Ok(Some(lease)) => lease,
                    Ok(None) => {
                        // Another process runs the queue: stand by.
                        wait(&mut stop, LEASE_DURATION / 2).await;
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "command queue: cannot take the lease");
                        wait(&mut stop, backoff.next_delay()).await;
                        continue;
                    }
                };
            tracing::info!("command queue: running the embedded queue");
            let lease = self.lead(lease, &mut stop, &mut backoff).await;
            if let Some(lease) = lease {
                lease.release().await;
            }
        }
    }

    /// Runs the queue while the lease holds; gives it back when stopping.
    async fn lead(
        &self,
        lease: Lease,
        stop: &mut watch::Receiver<bool>,
        backoff: &mut Backoff,
    ) -> Option<Lease> {
        let mut held = Held {
            lease,
            renewed: tokio::time::Instant::now(),
        };
        loop {
            if *stop.borrow() {
                return Some(held.lease);
            }
            let round = match held.renew_if_due().await {
                Ok(()) => self.round(&mut held).await,
                Err(error) => Err(RoundError::LeaseLost(error.to_string())),
            };
            match round {
                Ok(0) => {
                    backoff.reset();
                    let submitted = self.queue.submitted.notified();
                    tokio::select! {
                        _ = submitted => {}
                        _ = tokio::time::sleep(IDLE_POLL) => {}
                        _ = stop.changed() => {}
                    }
                }
                Ok(_) => backoff.reset(),
                Err(RoundError::LeaseLost(error)) => {
                    tracing::warn!(%error, "command queue: lease lost");
                    return None;
                }
                Err(RoundError::Failed(error)) => {
                    tracing::warn!(%error, "command queue: a round failed; backing off");
                    wait(stop, backoff.next_delay()).await;
                }
            }
        }
    }

    /// Runs the pending commands, oldest first; how many got an outcome. Stops at the
    /// first that cannot run now, so commands on one aggregate keep their order. The
    /// lease is renewed between commands: a slow round must not outlive it.
    async fn round(&self, held: &mut Held) -> Result<usize, RoundError> {
        let failed = |error: sqlx::Error| RoundError::Failed(error.to_string());
        let pending = self.queue.storage.pending(BATCH).await.map_err(failed)?;
        let mut done = 0;
        for record in pending {
            held.renew_if_due()
                .await
                .map_err(|error| RoundError::LeaseLost(error.to_string()))?;
            let command = CommandToRun {
                command_id: record.command_id,
                command_type: record.command_type,
                payload: record.payload,
                issued_by: record.issued_by,
            };
            let outcome = match self.runner.run(&command).await {
                RunResult::Done(outcome) => outcome,
                RunResult::Retry(cause) => return Err(RoundError::Failed(cause)),
            };
            self.counters.received.fetch_add(1, Ordering::Relaxed);
            if self.queue.complete(&command, &outcome).await.map_err(failed)? {
                self.counters.count(&outcome);
            }
            done += 1;
        }
        Ok(done)
    }
}

/// The worker's lease, and when it was last renewed.
struct Held {
    lease: Lease,
    renewed: tokio::time::Instant,
}

impl Held {
    async fn renew_if_due(&mut self) -> Result<(), crate::LeaseError> {
        if self.renewed.elapsed() >= RENEW_EVERY {
            self.lease.renew(RENEW_EVERY).await?;
            self.renewed = tokio::time::Instant::now();
        }
        Ok(())
    }
}

enum RoundError {
    /// Another worker holds the queue now.
    LeaseLost(String),
    /// The database, or a command that cannot run yet: back off and try again.
    Failed(String),
}

async fn wait(stop: &mut watch::Receiver<bool>, delay: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(delay) => {}
        _ = stop.changed() => {}
    }
}
