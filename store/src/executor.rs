//! [`CommandExecutor`]: runs one command against one aggregate.
//!
//! The flow is cqrs-es's own (`EventStore::load_aggregate`, `Aggregate::handle`,
//! `EventStore::commit`), not `CqrsFramework::execute`, because the caller must get
//! back what was committed (event ids, version, position) and `execute` returns `()`.

use crate::aggregate_store::AlpesEventStore;
use crate::error::{DbFault, StoreError};
use crate::locks::KeyedLocks;
use crate::log::{CommitError, IdempotencyClaim};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateError, EventStore};
use std::collections::HashMap;
use uuid::Uuid;

/// The metadata key of the id of what caused a command's events: the seed front door's
/// command id, carried on to the integration events (`correlationid`).
pub const CORRELATION_ID: &str = "correlation_id";

/// How a command is to be executed.
#[derive(Debug, Default, Clone)]
pub struct CommandOptions {
    /// `If-Match`: the version the client last saw. The command fails with
    /// [`CommandError::VersionMismatch`] instead of being retried when it differs.
    pub expected_version: Option<usize>,
    /// `Idempotency-Key`: a retry with the same key and request answers the first
    /// outcome and writes nothing.
    pub idempotency: Option<IdempotencyClaim>,
    /// Stored with every event of the command (correlation ids and the like).
    pub metadata: HashMap<String, String>,
    /// The aggregate id was just generated for this command (a creation): skip
    /// reading a stream that cannot exist yet. Should it exist after all, the append
    /// conflicts and the command is retried on the stream as read.
    pub new_aggregate: bool,
}

/// What a command committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutcome {
    pub aggregate_id: String,
    /// The aggregate's version after the command (the sequence of its last event).
    pub version: usize,
    /// The committed events' ids, in stream order.
    pub event_ids: Vec<Uuid>,
    /// Global position of the aggregate's last event: a read-your-writes token.
    pub position: i64,
    /// True when this is the stored outcome of an earlier request with the same
    /// idempotency key (nothing was written this time).
    pub replayed: bool,
}

/// Why a command did not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused the command (a rule violation, not found, ...).
    #[error(transparent)]
    Domain(E),
    /// `If-Match` named another version than the aggregate's current one.
    #[error("expected version {expected}, but the aggregate is at version {actual}")]
    VersionMismatch { expected: usize, actual: usize },
    /// Concurrent writers kept winning; the client may retry.
    #[error("the aggregate was modified concurrently {attempts} times in a row")]
    Conflict { attempts: u32 },
    /// The idempotency key was used before for a different request.
    #[error("the idempotency key was already used for a different request")]
    IdempotencyKeyReused,
    /// The aggregate exists, but the caller may not see it: answered as if it did not
    /// exist, so that its existence is not revealed.
    #[error("the aggregate is not visible to the caller")]
    NotVisible,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Executes commands for aggregates of type `A`.
pub struct CommandExecutor<A: Aggregate> {
    store: AlpesEventStore<A>,
    services: A::Services,
    locks: KeyedLocks,
    /// Attempts before a command that keeps losing races to other processes gives up
    /// with a 409 (inside one process, commands on an aggregate queue on its lock).
    max_attempts: u32,
}

/// What one attempt ended with, when it did not fail the command.
enum Attempt {
    Committed(CommandOutcome),
    /// Someone else wrote the stream: re-load and re-validate.
    Conflict,
    /// A concurrent request with our idempotency key committed first.
    IdempotencyKeyTaken,
}

impl<A> CommandExecutor<A>
where
    A: Aggregate + Clone + 'static,
    A::Command: Clone,
{
    pub fn new(store: AlpesEventStore<A>, services: A::Services) -> Self {
        Self {
            store,
            services,
            locks: KeyedLocks::default(),
            max_attempts: 5,
        }
    }

    pub fn store(&self) -> &AlpesEventStore<A> {
        &self.store
    }

    /// The aggregate `aggregate_id` as its stream (or the cache) has it; `None` when it
    /// has no events.
    pub async fn load(&self, aggregate_id: &str) -> Result<Option<A>, StoreError> {
        let context =
            self.store.load_aggregate(aggregate_id).await.map_err(|error| {
                match infrastructure::<A::Error>(error) {
                    CommandError::Store(error) => error,
                    other => StoreError::EventStore(other.to_string()),
                }
            })?;
        Ok((context.version > 0).then_some(context.aggregate))
    }

    /// Runs `command` on the aggregate `aggregate_id`.
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        options: CommandOptions,
    ) -> Result<CommandOutcome, CommandError<A::Error>> {
        self.execute_visible(aggregate_id, command, options, |_| true)
            .await
    }

    /// Runs `command` on the aggregate `aggregate_id` if `visible` says the caller may
    /// see it as loaded (a brand its own campaigns); otherwise fails with
    /// [`CommandError::NotVisible`] before the command is handled. Checked on the
    /// aggregate itself, so a command right after a creation needs no view to catch up.
    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id = %aggregate_id))]
    pub async fn execute_visible(
        &self,
        aggregate_id: &str,
        command: A::Command,
        options: CommandOptions,
        visible: impl Fn(&A) -> bool + Send + Sync,
    ) -> Result<CommandOutcome, CommandError<A::Error>> {
        if let Some(outcome) = self.replay(options.idempotency.as_ref()).await? {
            return Ok(outcome);
        }
        let _turn = self.locks.lock(aggregate_id).await;
        let mut attempts = 0;
        while attempts < self.max_attempts {
            attempts += 1;
            let assume_new = options.new_aggregate && attempts == 1;
            match self
                .attempt(aggregate_id, command.clone(), &options, assume_new, &visible)
                .await
            {
                Ok(Attempt::Committed(outcome)) => return Ok(outcome),
                Ok(Attempt::Conflict) => tracing::debug!(attempts, "concurrent write, retrying"),
                Ok(Attempt::IdempotencyKeyTaken) => {
                    if let Some(outcome) = self.replay(options.idempotency.as_ref()).await? {
                        return Ok(outcome);
                    }
                }
                Err(CommandError::Domain(refused)) => {
                    // A twin request with the same key may have committed while this one
                    // waited for the lock (adding the same participant twice is then
                    // refused): the twin's outcome is this request's answer.
                    if let Some(outcome) = self.replay(options.idempotency.as_ref()).await? {
                        return Ok(outcome);
                    }
                    return Err(CommandError::Domain(refused));
                }
                Err(other) => return Err(other),
            }
        }
        Err(CommandError::Conflict { attempts })
    }

    /// One load, handle, commit.
    async fn attempt(
        &self,
        aggregate_id: &str,
        command: A::Command,
        options: &CommandOptions,
        assume_new: bool,
        visible: &(impl Fn(&A) -> bool + Send + Sync),
    ) -> Result<Attempt, CommandError<A::Error>> {
        let mut context = if assume_new {
            self.store.new_context(aggregate_id)
        } else {
            self.store
                .load_aggregate(aggregate_id)
                .await
                .map_err(infrastructure)?
        };
        // Before anything that would tell the caller about it (its version, a rule).
        if context.version > 0 && !visible(&context.aggregate) {
            return Err(CommandError::NotVisible);
        }
        // An aggregate that does not exist has no version to match: the command itself
        // says what is wrong (not found).
        if let Some(expected) = options.expected_version.filter(|_| context.version > 0) {
            if context.version != expected && context.from_cache {
                // Our copy may be stale; only the database can say the client is wrong.
                self.store.forget(aggregate_id);
                context = self
                    .store
                    .load_aggregate(aggregate_id)
                    .await
                    .map_err(infrastructure)?;
            }
            if context.version != expected {
                return Err(CommandError::VersionMismatch {
                    expected,
                    actual: context.version,
                });
            }
        }
        context.idempotency = options.idempotency.clone();

        let sink = EventSink::default();
        if let Err(refused) = context.aggregate.handle(command, &self.services, &sink).await {
            if context.from_cache {
                // A stale cached copy must not refuse a valid command: decide on the
                // database's state instead.
                self.store.forget(aggregate_id);
                return Ok(Attempt::Conflict);
            }
            return Err(CommandError::Domain(refused));
        }
        let events = sink.collect().await;
        let version = context.version;

        match self.store.append(&events, context, &options.metadata).await {
            Ok(appended) => {
                let (version, position) = match appended.last() {
                    Some(last) => (last.sequence as usize, last.position),
                    // Nothing to commit: the answer still carries the aggregate's
                    // version and a read-your-writes token.
                    None => {
                        let position = self
                            .store
                            .log()
                            .position_of(A::TYPE, aggregate_id, version as i64)
                            .await
                            .map_err(StoreError::from)?
                            .unwrap_or(0);
                        (version, position)
                    }
                };
                Ok(Attempt::Committed(CommandOutcome {
                    aggregate_id: aggregate_id.to_owned(),
                    version,
                    event_ids: appended.iter().map(|event| event.event_id).collect(),
                    position,
                    replayed: false,
                }))
            }
            Err(CommitError::StreamConflict) => match options.expected_version {
                // The client named a version and someone else moved past it.
                Some(expected) => Err(CommandError::VersionMismatch {
                    expected,
                    actual: version + 1,
                }),
                None => Ok(Attempt::Conflict),
            },
            Err(CommitError::IdempotencyKeyTaken) => Ok(Attempt::IdempotencyKeyTaken),
            Err(CommitError::Database(error)) => Err(CommandError::Store(StoreError::from(error))),
        }
    }

    /// The stored outcome of an earlier command with this idempotency key, if any.
    async fn replay(
        &self,
        claim: Option<&IdempotencyClaim>,
    ) -> Result<Option<CommandOutcome>, CommandError<A::Error>> {
        let Some(claim) = claim else { return Ok(None) };
        let Some(earlier) = self
            .store
            .log()
            .find_idempotent_outcome(&claim.key)
            .await
            .map_err(StoreError::from)?
        else {
            return Ok(None);
        };
        if earlier.request_hash != claim.request_hash {
            return Err(CommandError::IdempotencyKeyReused);
        }
        let (version, position) = earlier
            .events
            .last()
            .map(|event| (event.sequence as usize, event.position))
            .unwrap_or_default();
        Ok(Some(CommandOutcome {
            aggregate_id: earlier.aggregate_id,
            version,
            event_ids: earlier.events.iter().map(|event| event.event_id).collect(),
            position,
            replayed: true,
        }))
    }
}

/// A cqrs-es error that is not the domain's: the store failed. Whether the
/// database was unreachable (503 for the client) or something else broke (500) is
/// read from the underlying sqlx error, which postgres-es boxes in various variants.
fn infrastructure<E: std::error::Error>(error: AggregateError<E>) -> CommandError<E> {
    let source = match &error {
        AggregateError::UserError(_) => None,
        AggregateError::DatabaseConnectionError(source)
        | AggregateError::DeserializationError(source)
        | AggregateError::UnexpectedError(source) => Some(source),
        AggregateError::AggregateConflict => None,
    };
    let unreachable = matches!(error, AggregateError::DatabaseConnectionError(_))
        || source
            .and_then(|s| s.downcast_ref::<sqlx::Error>())
            .is_some_and(|error| DbFault::of(error) == DbFault::Unavailable);
    match error {
        AggregateError::UserError(domain) => CommandError::Domain(domain),
        other if unreachable => CommandError::Store(StoreError::Unavailable(other.to_string())),
        other => CommandError::Store(StoreError::EventStore(other.to_string())),
    }
}
