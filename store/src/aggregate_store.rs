//! [`AlpesEventStore`]: the `cqrs_es::EventStore` of one aggregate type.

use crate::log::{Appended, CommitError, EventLog, IdempotencyClaim, NewEvent};
use async_trait::async_trait;
use cqrs_es::persist::{EventUpcaster, PersistedEventRepository, PersistedEventStore};
use cqrs_es::{Aggregate, AggregateContext, AggregateError, DomainEvent, EventEnvelope, EventStore};
use lru::LruCache;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use uuid::Uuid;

/// An aggregate loaded for a command, with what its commit needs to know.
pub struct AlpesAggregateContext<A> {
    pub aggregate_id: String,
    pub aggregate: A,
    /// The sequence of the last event applied (0: the aggregate does not exist yet).
    pub version: usize,
    /// Whether `aggregate` was not read from the database: it came from the
    /// in-process cache, or is the empty state of an id just generated. Such a copy
    /// can be stale (another process wrote the stream); the executor re-reads it
    /// before it reports a conflict or a rule violation.
    pub from_cache: bool,
    /// The idempotency key to commit atomically with the events, if any.
    pub idempotency: Option<IdempotencyClaim>,
}

impl<A: Aggregate> AggregateContext<A> for AlpesAggregateContext<A> {
    fn aggregate(&mut self) -> &mut A {
        &mut self.aggregate
    }
}

/// Loads an aggregate's stream: cqrs-es's `PersistedEventStore` over the backend's
/// repository (postgres-es or sqlite-es), built by the backend's folder.
#[async_trait]
pub(crate) trait LoadStream<A: Aggregate>: Send + Sync {
    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>>;
    /// (aggregate, version) as stored.
    async fn load_aggregate(&self, aggregate_id: &str) -> Result<(A, usize), AggregateError<A::Error>>;
}

#[async_trait]
impl<R, A> LoadStream<A> for PersistedEventStore<R, A>
where
    R: PersistedEventRepository + Send + Sync,
    A: Aggregate + Send + Sync,
{
    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        EventStore::load_events(self, aggregate_id).await
    }

    async fn load_aggregate(&self, aggregate_id: &str) -> Result<(A, usize), AggregateError<A::Error>> {
        let loaded = EventStore::load_aggregate(self, aggregate_id).await?;
        Ok((loaded.aggregate, loaded.current_sequence))
    }
}

/// An event store for aggregates of type `A`.
///
/// - Loads through postgres-es or sqlite-es (`PersistedEventStore` in event-store
///   mode, with our upcasters), or from an in-process cache of recently committed
///   aggregates.
/// - Commits through [`EventLog::append`] ([`AlpesEventStore::append`]), which answers
///   what the log assigned to each event ([`Appended`]).
///
/// cqrs-es's snapshot and aggregate-store modes are deliberately not used: in 0.5.0
/// `commit` re-applies events that `EventSink::write` already applied.
pub struct AlpesEventStore<A: Aggregate> {
    log: EventLog,
    reader: Box<dyn LoadStream<A>>,
    /// Aggregates as they were after their last commit from this process, with their
    /// version. `None`: caching disabled. Correct with several writers because a
    /// stale entry can only cause a failed append (primary key on the sequence),
    /// after which the entry is dropped and the stream re-read.
    cache: Option<Mutex<LruCache<String, (A, usize)>>>,
}

impl<A> AlpesEventStore<A>
where
    A: Aggregate + Clone + 'static,
{
    /// `cache_capacity` aggregates are kept in memory (0 disables the cache).
    pub fn new(log: EventLog, upcasters: Vec<Box<dyn EventUpcaster>>, cache_capacity: usize) -> Self {
        let reader = log.database().stream_loader(upcasters);
        Self {
            log,
            reader,
            cache: NonZeroUsize::new(cache_capacity).map(|capacity| Mutex::new(LruCache::new(capacity))),
        }
    }

    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The context of an aggregate that does not exist yet (an id just generated),
    /// without reading the database.
    pub fn new_context(&self, aggregate_id: &str) -> AlpesAggregateContext<A> {
        AlpesAggregateContext {
            aggregate_id: aggregate_id.to_owned(),
            aggregate: A::default(),
            version: 0,
            from_cache: true,
            idempotency: None,
        }
    }

    /// Drops the cached copy of an aggregate, so the next load reads the database.
    pub fn forget(&self, aggregate_id: &str) {
        if let Some(cache) = &self.cache {
            lock(cache).pop(aggregate_id);
        }
    }

    fn cached(&self, aggregate_id: &str) -> Option<(A, usize)> {
        self.cache
            .as_ref()
            .and_then(|cache| lock(cache).get(aggregate_id).cloned())
    }

    fn remember(&self, aggregate_id: String, aggregate: A, version: usize) {
        if let Some(cache) = &self.cache {
            lock(cache).put(aggregate_id, (aggregate, version));
        }
    }

    /// Appends the events a command produced on `context` (whose aggregate already
    /// applied them: `handle` wrote them through the `EventSink`), with the command's
    /// metadata and idempotency key. What the log assigned to each, in order.
    pub async fn append(
        &self,
        events: &[A::Event],
        context: AlpesAggregateContext<A>,
        metadata: &HashMap<String, String>,
    ) -> Result<Vec<Appended>, CommitError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let new_events = events
            .iter()
            .enumerate()
            .map(|(offset, event)| {
                Ok(NewEvent {
                    // v7: time-ordered, so the unique index on event_id stays append-mostly.
                    event_id: Uuid::now_v7(),
                    sequence: i64::try_from(context.version + 1 + offset)
                        .map_err(|_| sqlx::Error::Protocol("sequence out of range".into()))?,
                    event_type: event.event_type(),
                    event_version: event.event_version(),
                    payload: serde_json::to_value(event)
                        .map_err(|error| sqlx::Error::Encode(Box::new(error)))?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let stored_metadata =
            serde_json::to_value(metadata).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        let appended = self
            .log
            .append(
                A::TYPE,
                &context.aggregate_id,
                &new_events,
                &stored_metadata,
                context.idempotency.as_ref(),
            )
            .await;
        match appended {
            Ok(appended) => {
                self.remember(
                    context.aggregate_id,
                    context.aggregate,
                    context.version + events.len(),
                );
                Ok(appended)
            }
            Err(error) => {
                // Whatever happened, the stream may now differ from our copy.
                self.forget(&context.aggregate_id);
                Err(error)
            }
        }
    }
}

/// A poisoned cache lock only means another thread panicked while holding it; the
/// cache holds nothing that a panic could leave half-written, so keep using it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<A> EventStore<A> for AlpesEventStore<A>
where
    A: Aggregate + Clone + 'static,
{
    type AC = AlpesAggregateContext<A>;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        self.reader.load_events(aggregate_id).await
    }

    async fn load_aggregate(&self, aggregate_id: &str) -> Result<Self::AC, AggregateError<A::Error>> {
        if let Some((aggregate, version)) = self.cached(aggregate_id) {
            return Ok(AlpesAggregateContext {
                aggregate_id: aggregate_id.to_owned(),
                aggregate,
                version,
                from_cache: true,
                idempotency: None,
            });
        }
        let (aggregate, version) = self.reader.load_aggregate(aggregate_id).await?;
        Ok(AlpesAggregateContext {
            aggregate_id: aggregate_id.to_owned(),
            aggregate,
            version,
            from_cache: false,
            idempotency: None,
        })
    }

    /// cqrs-es's commit, for use as a plain `EventStore`; the executor calls
    /// [`AlpesEventStore::append`], which answers what the log assigned.
    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let aggregate_id = context.aggregate_id.clone();
        let appended = self
            .append(&events, context, &metadata)
            .await
            .map_err(|error| match error {
                CommitError::StreamConflict => AggregateError::AggregateConflict,
                other => AggregateError::DatabaseConnectionError(Box::new(other)),
            })?;
        Ok(events
            .into_iter()
            .zip(appended)
            .map(|(payload, stored)| EventEnvelope {
                aggregate_id: aggregate_id.clone(),
                sequence: stored.sequence as usize,
                payload,
                metadata: metadata.clone(),
            })
            .collect())
    }
}
