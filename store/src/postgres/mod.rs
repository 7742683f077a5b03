//! The Postgres backend of the store: every statement the store runs on Postgres
//! (the `.sql` files beside this one), and what only Postgres does: group commit,
//! LISTEN/NOTIFY wake-ups, advisory-lock leases, SQLSTATE classification.
//!
//! # Layout
//! - this file: [`PgDb`], the pool and the store's operations on it
//!   ([`crate::storage::Storage`]), leases, errors, the aggregate stream loader.
//! - `group_commit`: concurrent appends written in one statement.
//! - `notifier`: the NOTIFY that wakes other processes' readers once appends committed.

pub(crate) mod commands;
mod group_commit;
mod notifier;

use crate::error::{DbFault, StoreError};
use crate::log::{outcome_of, Appended, CommitError, CommittedEvent, IdempotentOutcome};
use crate::reader::{LogCursor, RecordedEvent};
use crate::storage::{Append, HeldLease, Storage};
use async_trait::async_trait;
use group_commit::GroupCommit;
use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgListener, PgPoolOptions, PgRow};
use sqlx::{Connection, PgConnection, PgPool, Row};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// The migrations, embedded in the binary so `alpes migrate` and `alpes serve` need
/// no files beside them.
///
/// The tracking service's own set (`migrations/tracking/`) shares sqlx's history table
/// (`_sqlx_migrations`: sqlx 0.8 has no setting for its name), so the versions this set
/// does not know are ignored: they are tracking's. (The price: a database migrated by a
/// newer binary is no longer refused by an older one.)
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("../migrations/postgres");
    migrator.set_ignore_missing(true);
    migrator
}

/// The channel appenders NOTIFY after they committed (`notify_appended.sql`).
pub const APPENDED_CHANNEL: &str = "alpes_events_appended";

/// A pooled connection used this recently is taken as alive; one idle for longer is
/// pinged before it is handed out (and replaced if the ping fails). HikariCP's rule
/// (its `aliveBypassWindowMs`), for the same reason: sqlx's default pings on every
/// acquire, one more round trip for each statement run on the pool, which under
/// command load cost as much as the statements themselves.
const ALIVE_WITHOUT_PING: Duration = Duration::from_secs(1);

/// The Postgres database: its pool, and the group-commit queue of its appends.
#[derive(Clone, Debug)]
pub struct PgDb {
    pool: PgPool,
    /// Shared by every clone; started on first use, so a `PgDb` can be made outside a
    /// runtime.
    group_commit: Arc<OnceLock<GroupCommit>>,
}

impl PgDb {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            group_commit: Arc::default(),
        }
    }

    /// Opens a pool lazily (see [`connect_lazy`]).
    pub(crate) fn connect_lazy(options: PgConnectOptions, max_connections: u32) -> Self {
        Self::new(connect_lazy(options, max_connections))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A connection of its own, outside the pool (for a session that must not be
    /// handed to other work: a lease's lock).
    async fn dedicated_connection(&self, application_name: &str) -> Result<PgConnection, sqlx::Error> {
        let options: PgConnectOptions = (*self.pool.connect_options()).clone();
        PgConnection::connect_with(&options.application_name(application_name)).await
    }
}

/// Opens a Postgres pool lazily: a database that is down makes `/ready` fail rather
/// than the process refuse to start.
pub fn connect_lazy(options: PgConnectOptions, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        // A request waits this long for a connection before it fails (503) instead of
        // hanging.
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for < ALIVE_WITHOUT_PING {
                    return Ok(true);
                }
                // An error discards the connection and the pool takes another one.
                sqlx::Connection::ping(connection).await.map(|()| true)
            })
        })
        .connect_lazy_with(options)
}

/// What a Postgres error says about whose fault it is (`None`: not a Postgres error).
///
/// SQLSTATE classes: `08` connection exceptions, `57P01`/`57P02` a server shutting down
/// or crashing (every session ends with it on a restart, and a pooled connection
/// learns of the restart only when it is next used), `57P03` starting up, `53300` too
/// many connections: unavailable. `23505` unique violation: a conflict. `22` data
/// exceptions and the rest of `23` (integrity constraints): the data.
pub(crate) fn fault_of(error: &dyn sqlx::error::DatabaseError) -> Option<DbFault> {
    let postgres = error.try_downcast_ref::<PgDatabaseError>()?;
    let code = postgres.code();
    Some(
        if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
            DbFault::Unavailable
        } else if code == "23505" {
            DbFault::Conflict {
                constraint: postgres.constraint().unwrap_or_default().to_owned(),
            }
        } else if code.starts_with("22") || code.starts_with("23") {
            DbFault::Data
        } else {
            DbFault::Other
        },
    )
}

/// Tells the two expected unique violations of an append apart from real failures.
fn commit_error(error: sqlx::Error) -> CommitError {
    match DbFault::of(&error) {
        DbFault::Conflict { constraint } if constraint == "events_pkey" => CommitError::StreamConflict,
        DbFault::Conflict { constraint } if constraint == "command_idempotency_pkey" => {
            CommitError::IdempotencyKeyTaken
        }
        _ => CommitError::Database(error),
    }
}

/// One command: one statement (`append_events.sql`), one round trip, one implicit
/// transaction for the events and the key. (Concurrent commands are batched by
/// `group_commit`, which falls back to this.)
async fn append_one(pool: &PgPool, append: &Append) -> Result<Vec<Appended>, CommitError> {
    let events = &append.events;
    let (first, last) = (events[0].sequence, events[events.len() - 1].sequence);
    let claim = append.claim.as_ref();
    let rows = sqlx::query(include_str!("append_events.sql"))
        .bind(&append.aggregate_type)
        .bind(&append.aggregate_id)
        .bind(events.iter().map(|e| e.sequence).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.event_type.as_str()).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.event_version.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| e.payload.to_string()).collect::<Vec<_>>())
        .bind(&append.metadata)
        .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .bind(claim.map(|c| c.key.as_str()))
        .bind(claim.map(|c| c.request_hash.as_slice()))
        .bind(first)
        .bind(last)
        .fetch_all(pool)
        .await
        .map_err(commit_error)?;
    rows.iter()
        .map(appended)
        .collect::<Result<_, _>>()
        .map_err(CommitError::from)
}

/// An appended event, as `append_events.sql` and `append_batch.sql` return it.
fn appended(row: &PgRow) -> Result<Appended, sqlx::Error> {
    Ok(Appended {
        event_id: row.try_get("event_id")?,
        sequence: row.try_get("sequence")?,
        position: row.try_get("position")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

/// The next `limit` events of the log after `cursor`, in commit order, on a pool or
/// inside a transaction (a rebuild's final catch-up reads in the swap's transaction).
pub async fn read_log<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    cursor: LogCursor,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let rows = sqlx::query(include_str!("read_log.sql"))
        .bind(cursor.transaction_id.to_string())
        .bind(cursor.position)
        .bind(limit)
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(RecordedEvent {
                cursor: LogCursor {
                    transaction_id: row.try_get("transaction_id")?,
                    position: row.try_get("position")?,
                },
                event_id: row.try_get("event_id")?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
                recorded_at: row.try_get("recorded_at")?,
            })
        })
        .collect()
}

/// The advisory-lock key of a lease: one key scheme for every lease.
const LEASE_LOCK: &str = "hashtextextended('alpes:' || $1, 0)";

#[async_trait]
impl Storage for PgDb {
    async fn migrate(&self) -> Result<(), StoreError> {
        migrator().run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }

    async fn close(&self) {
        self.pool.close().await
    }

    async fn append(&self, append: Append) -> Result<Vec<Appended>, CommitError> {
        self.group_commit
            .get_or_init(|| GroupCommit::start(self.pool.clone()))
            .append(append)
            .await
    }

    async fn find_idempotent_outcome(&self, key: &str) -> Result<Option<IdempotentOutcome>, sqlx::Error> {
        let rows = sqlx::query(include_str!("find_idempotent_outcome.sql"))
            .bind(key)
            .fetch_all(&self.pool)
            .await?;
        let rows = rows
            .iter()
            .map(|row| {
                Ok((
                    row.try_get("request_hash")?,
                    row.try_get("aggregate_id")?,
                    CommittedEvent {
                        event_id: row.try_get("event_id")?,
                        sequence: row.try_get("sequence")?,
                        position: row.try_get("position")?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(outcome_of(rows))
    }

    async fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar(include_str!("stream_head.sql"))
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(sequence)
            .fetch_optional(&self.pool)
            .await
    }

    async fn read_after(&self, cursor: LogCursor, limit: i64) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        read_log(&self.pool, cursor, limit).await
    }

    async fn head_position(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(include_str!("head_position.sql"))
            .fetch_one(&self.pool)
            .await
    }

    async fn count_after(&self, cursor: LogCursor) -> Result<i64, sqlx::Error> {
        scalar_after(&self.pool, include_str!("count_after.sql"), cursor).await
    }

    async fn any_after(&self, cursor: LogCursor) -> Result<bool, sqlx::Error> {
        scalar_after(&self.pool, include_str!("any_after.sql"), cursor).await
    }

    async fn covers(&self, cursor: LogCursor, position: i64) -> Result<Option<bool>, sqlx::Error> {
        sqlx::query_scalar(include_str!("cursor_covers.sql"))
            .bind(cursor.transaction_id.to_string())
            .bind(cursor.position)
            .bind(position)
            .fetch_optional(&self.pool)
            .await
    }

    fn appended(&self) -> watch::Receiver<u64> {
        listen(self.pool.clone())
    }

    async fn wake_readers(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(APPENDED_CHANNEL)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn try_lease(
        &self,
        key: &str,
        _holder: &str,
        _duration: Duration,
    ) -> Result<Option<Box<dyn HeldLease>>, sqlx::Error> {
        let mut connection = self.dedicated_connection("alpes-lease").await?;
        let taken: bool = sqlx::query_scalar(&format!("SELECT pg_try_advisory_lock({LEASE_LOCK})"))
            .bind(key)
            .fetch_one(&mut connection)
            .await?;
        if !taken {
            let _ = connection.close().await;
            return Ok(None);
        }
        Ok(Some(Box::new(AdvisoryLock(connection))))
    }

    async fn lease_held(&self, key: &str) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(include_str!("lease_held.sql"))
            .bind(key)
            .fetch_one(&self.pool)
            .await
    }
}

/// One value about the events after `cursor` ($1 transaction_id as text, $2 position).
async fn scalar_after<T>(pool: &PgPool, sql: &'static str, cursor: LogCursor) -> Result<T, sqlx::Error>
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    sqlx::query_scalar(sql)
        .bind(cursor.transaction_id.to_string())
        .bind(cursor.position)
        // Not prepared: an unnamed statement is planned on every call for its actual
        // values. A prepared one keeps, after five calls, a generic plan made for the
        // size the log had then: a sequential scan chosen while the log was small
        // stays one at millions of events.
        .persistent(false)
        .fetch_one(pool)
        .await
}

/// A lease held as a session advisory lock by a connection of its own.
struct AdvisoryLock(PgConnection);

#[async_trait]
impl HeldLease for AdvisoryLock {
    async fn renew(&mut self) -> Result<bool, sqlx::Error> {
        // The lock lives as long as the session: alive connection, lock still ours.
        self.0.ping().await.map(|()| true)
    }

    async fn release(self: Box<Self>) {
        let _ = self.0.close().await;
    }
}

/// A counter bumped by this process's appends (in-process, without the round trip
/// through the server) and by every NOTIFY on [`APPENDED_CHANNEL`], through a LISTEN
/// task that reconnects when its connection breaks (and bumps the counter then too:
/// notifications may have been missed meanwhile).
fn listen(pool: PgPool) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    let mut local = notifier::local_appends(&pool);
    let forward = tx.clone();
    tokio::spawn(async move {
        while local.changed().await.is_ok() {
            forward.send_modify(|n| *n += 1);
            if forward.is_closed() {
                return;
            }
        }
    });
    tokio::spawn(async move {
        loop {
            match PgListener::connect_with(&pool).await {
                Ok(mut listener) => {
                    if listener.listen(APPENDED_CHANNEL).await.is_ok() {
                        tx.send_modify(|n| *n += 1);
                        while listener.recv().await.is_ok() {
                            tx.send_modify(|n| *n += 1);
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "cannot listen for appended events"),
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    rx
}

/// Loads aggregate streams through postgres-es.
pub(crate) fn stream_loader<A: cqrs_es::Aggregate + 'static>(
    db: &PgDb,
    upcasters: Vec<Box<dyn cqrs_es::persist::EventUpcaster>>,
) -> Box<dyn crate::aggregate_store::LoadStream<A>> {
    Box::new(
        cqrs_es::persist::PersistedEventStore::new_event_store(postgres_es::PostgresEventRepository::new(
            db.pool.clone(),
        ))
        .with_upcasters(upcasters),
    )
}
