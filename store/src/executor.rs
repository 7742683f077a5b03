//! [`CommandExecutor`]: runs one command against one aggregate.
//!
//! The flow is cqrs-es's own (`EventStore::load_aggregate`, `Aggregate::handle`,
//! `EventStore::commit`), not `CqrsFramework::execute`, because the caller must get
//! back what was committed (event ids, version, position) and `execute` returns `()`.

use crate::aggregate_store::{metadata_keys, AlpesEventStore};
use crate::error::StoreError;
use crate::locks::KeyedLocks;
use crate::log::{AppendError, IdempotencyClaim};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};
use std::collections::HashMap;
use uuid::Uuid;

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

/// What one attempt ended with, when it did not end the command.
enum Retry {
    /// Someone else wrote the stream: re-load and re-validate.
    Conflict,
    /// A concurrent request with our idempotency key committed first.
    IdempotencyKeyTaken,
}

impl<A> CommandExecutor<A>
where
    A: Aggregate + Clone,
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

    #[tracing::instrument(skip_all, fields(aggregate_type = A::TYPE, aggregate_id = %aggregate_id))]
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        options: CommandOptions,
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
                .attempt(aggregate_id, command.clone(), &options, assume_new)
                .await
            {
                Ok(Ok(outcome)) => return Ok(outcome),
                Ok(Err(Retry::Conflict)) => tracing::debug!(attempts, "concurrent write, retrying"),
                Ok(Err(Retry::IdempotencyKeyTaken)) => {
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

    /// One load, handle, commit. The outer `Result` ends the command; the inner one
    /// says whether to try again.
    async fn attempt(
        &self,
        aggregate_id: &str,
        command: A::Command,
        options: &CommandOptions,
        assume_new: bool,
    ) -> Result<Result<CommandOutcome, Retry>, CommandError<A::Error>> {
        let mut context = if assume_new {
            self.store.new_context(aggregate_id)
        } else {
            self.store
                .load_aggregate(aggregate_id)
                .await
                .map_err(infrastructure)?
        };
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
                return Ok(Err(Retry::Conflict));
            }
            return Err(CommandError::Domain(refused));
        }
        let events = sink.collect().await;
        let version = context.version;

        match self.store.commit(events, context, options.metadata.clone()).await {
            Ok(envelopes) if envelopes.is_empty() => {
                let position = self
                    .store
                    .log()
                    .position_of(A::TYPE, aggregate_id, version as i64)
                    .await
                    .map_err(StoreError::from)?
                    .unwrap_or(0);
                Ok(Ok(CommandOutcome {
                    aggregate_id: aggregate_id.to_owned(),
                    version,
                    event_ids: Vec::new(),
                    position,
                    replayed: false,
                }))
            }
            Ok(envelopes) => Ok(Ok(outcome_of(aggregate_id, &envelopes)?)),
            Err(AggregateError::AggregateConflict) => match options.expected_version {
                // The client named a version and someone else moved past it.
                Some(expected) => Err(CommandError::VersionMismatch {
                    expected,
                    actual: version + 1,
                }),
                None => Ok(Err(Retry::Conflict)),
            },
            Err(AggregateError::UnexpectedError(error))
                if matches!(
                    error.downcast_ref::<AppendError>(),
                    Some(AppendError::IdempotencyKeyTaken)
                ) =>
            {
                Ok(Err(Retry::IdempotencyKeyTaken))
            }
            Err(error) => Err(infrastructure(error)),
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
            .map(|&(sequence, _, position)| (sequence as usize, position))
            .unwrap_or_default();
        Ok(Some(CommandOutcome {
            aggregate_id: earlier.aggregate_id,
            version,
            event_ids: earlier.events.iter().map(|&(_, event_id, _)| event_id).collect(),
            position,
            replayed: true,
        }))
    }
}

/// Reads what the store put in the committed envelopes' metadata.
fn outcome_of<A: Aggregate>(
    aggregate_id: &str,
    envelopes: &[EventEnvelope<A>],
) -> Result<CommandOutcome, StoreError> {
    let field = |envelope: &EventEnvelope<A>, key: &str| {
        envelope
            .metadata
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::EventStore(format!("committed envelope without {key}")))
    };
    let mut event_ids = Vec::with_capacity(envelopes.len());
    let mut position = 0;
    let mut version = 0;
    for envelope in envelopes {
        let event_id = field(envelope, metadata_keys::EVENT_ID)?;
        event_ids.push(Uuid::parse_str(&event_id).map_err(|e| StoreError::EventStore(e.to_string()))?);
        position = field(envelope, metadata_keys::POSITION)?
            .parse()
            .map_err(|e: std::num::ParseIntError| StoreError::EventStore(e.to_string()))?;
        version = envelope.sequence;
    }
    Ok(CommandOutcome {
        aggregate_id: aggregate_id.to_owned(),
        version,
        event_ids,
        position,
        replayed: false,
    })
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
            .is_some_and(StoreError::is_unreachable);
    match error {
        AggregateError::UserError(domain) => CommandError::Domain(domain),
        other if unreachable => CommandError::Store(StoreError::Unavailable(other.to_string())),
        other => CommandError::Store(StoreError::EventStore(other.to_string())),
    }
}
