//! The embedded SQLite backend of the store: every statement the store runs on SQLite
//! (the `.sql` files beside this one), and what only SQLite needs: one writer at a
//! time, in-process wake-ups, leases as rows that expire, result-code classification.
//!
//! SQLite has a single writer, so positions are assigned in commit order and a
//! reader's cursor is just the position (both halves of [`LogCursor`]).

pub(crate) mod commands;

use crate::error::{DbFault, StoreError};
use crate::log::{outcome_of, Appended, CommitError, CommittedEvent, IdempotentOutcome};
use crate::reader::{LogCursor, RecordedEvent};
use crate::storage::{Append, HeldLease, Storage};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteError, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex, OwnedMutexGuard};
use uuid::Uuid;

/// The migrations, embedded in the binary so `alpes migrate` and `alpes serve` need
/// no files beside them.
///
/// The tracking service's own set (`migrations/tracking/`) shares sqlx's history table
/// (`_sqlx_migrations`: sqlx 0.8 has no setting for its name), so the versions this set
/// does not know are ignored: they are tracking's. (The price: a database migrated by a
/// newer binary is no longer refused by an older one.)
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("../migrations/sqlite");
    migrator.set_ignore_missing(true);
    migrator
}

/// The embedded SQLite database: a pool for readers, one writer at a time.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pool: SqlitePool,
    /// Writers of this process take turns here before `BEGIN IMMEDIATE`, so they wait
    /// on a fair async queue instead of SQLite's busy handler (which sleeps and retries).
    /// Writers of other processes (an `alpes projections rebuild` next to `alpes serve`)
    /// are serialised by SQLite itself, within `busy_timeout`.
    write_turn: Arc<Mutex<()>>,
    /// Bumped after each commit that appended events: the in-process stand-in for
    /// Postgres's NOTIFY, watched by [`crate::LogWaker`].
    appended: Arc<watch::Sender<u64>>,
}

impl SqliteDb {
    /// Opens (creating if needed) the file a `sqlite:` URL names, in WAL mode with
    /// `synchronous=FULL`: a commit has reached the disk when it returns, so a 2xx
    /// answer means the events survive a power cut.
    pub(crate) async fn open(url: &str, max_connections: u32) -> Result<SqliteDb, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Another process writing (a rebuild from the CLI) makes a writer wait this
            // long before it fails.
            .busy_timeout(Duration::from_secs(10));
        if let Some(directory) = Path::new(options.get_filename()).parent() {
            if !directory.as_os_str().is_empty() {
                std::fs::create_dir_all(directory).map_err(|error| {
                    StoreError::Unavailable(format!("cannot create {}: {error}", directory.display()))
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        let (appended, _) = watch::channel(0);
        Ok(SqliteDb {
            pool,
            write_turn: Arc::new(Mutex::new(())),
            appended: Arc::new(appended),
        })
    }

    /// The pool, for reads (WAL: readers never wait for the writer).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a write transaction: the one way any SQLite write starts. Waits for this
    /// process's writer turn, then `BEGIN IMMEDIATE` (takes SQLite's write lock now, so
    /// the transaction cannot fail later because another connection wrote since it read).
    ///
    /// The turn and the `BEGIN` are taken by a task of their own: a caller dropped
    /// meanwhile (a cancelled request) then never leaves a half-begun transaction
    /// holding SQLite's write lock; the task's unread result is dropped, rolling back.
    pub async fn begin_write(&self) -> Result<SqliteWrite, sqlx::Error> {
        let (turn, pool) = (self.write_turn.clone(), self.pool.clone());
        tokio::spawn(async move {
            let turn = turn.lock_owned().await;
            let transaction = pool.begin_with("BEGIN IMMEDIATE").await?;
            Ok(SqliteWrite {
                transaction,
                _turn: turn,
            })
        })
        .await
        .unwrap_or(Err(sqlx::Error::WorkerCrashed))
    }

    /// Tells this process's log readers that events were committed.
    fn notify_appended(&self) {
        self.appended.send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Runs one write statement in a write transaction of its own.
    async fn write<'q>(
        &self,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<u64, sqlx::Error> {
        let mut write = self.begin_write().await?;
        let changed = query.execute(&mut *write).await?.rows_affected();
        write.commit().await?;
        Ok(changed)
    }
}

/// A SQLite write transaction holding this process's writer turn. Derefs to the
/// connection; dropped without [`SqliteWrite::commit`] it rolls back.
pub struct SqliteWrite {
    transaction: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl SqliteWrite {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.transaction.commit().await
    }
}

impl Deref for SqliteWrite {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.transaction
    }
}

impl DerefMut for SqliteWrite {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.transaction
    }
}

/// What a SQLite error says about whose fault it is (`None`: not a SQLite error).
///
/// Extended result codes, whose primary code is the low byte: 5 BUSY and 6 LOCKED
/// (another writer kept the lock past `busy_timeout`): unavailable. A unique or
/// primary key violation (2067, 1555): a conflict, named by the `table.column` list of
/// its message (SQLite names no constraint). 18 TOOBIG, 19 CONSTRAINT (NOT NULL, CHECK,
/// a STRICT column's type), 20 MISMATCH: the data. Not 25 RANGE: that is a
/// parameter-binding bug of ours, not the data.
pub(crate) fn fault_of(error: &dyn sqlx::error::DatabaseError) -> Option<DbFault> {
    error.try_downcast_ref::<SqliteError>()?;
    let code = error
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .unwrap_or(0);
    Some(match code & 0xff {
        5 | 6 => DbFault::Unavailable,
        _ if error.is_unique_violation() => DbFault::Conflict {
            constraint: error
                .message()
                .split_once("failed: ")
                .map(|(_, columns)| columns.to_owned())
                .unwrap_or_default(),
        },
        18..=20 => DbFault::Data,
        _ => DbFault::Other,
    })
}

/// A uuid stored as text (SQLite has no uuid type).
pub fn parse_uuid(text: &str) -> Result<Uuid, sqlx::Error> {
    Uuid::parse_str(text).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// A JSON document stored as text.
fn parse_json(text: &str) -> Result<Value, sqlx::Error> {
    serde_json::from_str(text).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// Tells the two expected unique violations of an append apart from real failures.
fn commit_error(error: sqlx::Error) -> CommitError {
    match DbFault::of(&error) {
        DbFault::Conflict { constraint } if constraint.starts_with("events.aggregate_type") => {
            CommitError::StreamConflict
        }
        DbFault::Conflict { constraint } if constraint.starts_with("command_idempotency.idempotency_key") => {
            CommitError::IdempotencyKeyTaken
        }
        _ => CommitError::Database(error),
    }
}

/// One write transaction (a statement per event: they are local calls, not round
/// trips), committed with `synchronous=FULL`, then readers are woken.
async fn append(db: &SqliteDb, append: &Append) -> Result<Vec<Appended>, CommitError> {
    // Millisecond precision, like the JSON the API answers with; one instant for the
    // whole command, as Postgres's transaction time.
    let recorded_at = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_default();
    let recorded_text = recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let events = &append.events;
    let mut write = db.begin_write().await?;
    let mut appended = Vec::with_capacity(events.len());
    for event in events {
        let row = sqlx::query(include_str!("append_event.sql"))
            .bind(&append.aggregate_type)
            .bind(&append.aggregate_id)
            .bind(event.sequence)
            .bind(&event.event_type)
            .bind(&event.event_version)
            .bind(event.payload.to_string())
            .bind(&append.metadata)
            .bind(event.event_id.to_string())
            .bind(&recorded_text)
            .fetch_one(&mut *write)
            .await
            .map_err(commit_error)?;
        appended.push(Appended {
            event_id: event.event_id,
            sequence: row.try_get("sequence")?,
            position: row.try_get("position")?,
            recorded_at,
        });
    }
    if let Some(claim) = &append.claim {
        sqlx::query(include_str!("remember_idempotency_key.sql"))
            .bind(&claim.key)
            .bind(claim.request_hash.as_slice())
            .bind(&append.aggregate_type)
            .bind(&append.aggregate_id)
            .bind(events[0].sequence)
            .bind(events[events.len() - 1].sequence)
            .execute(&mut *write)
            .await
            .map_err(commit_error)?;
    }
    // Readers are woken even if this future is dropped while the commit is under way
    // (the commit still happens): a spurious wake-up costs one empty read, a missed
    // one a poll interval.
    let _wake_readers = WakeOnDrop(db);
    write.commit().await?;
    Ok(appended)
}

/// Wakes the log's readers when dropped.
struct WakeOnDrop<'a>(&'a SqliteDb);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify_appended();
    }
}

/// The next `limit` events of the log after `cursor`, on any connection (a write
/// transaction included: a rebuild's final catch-up reads in the swap's transaction).
pub async fn read_log(
    conn: &mut SqliteConnection,
    cursor: LogCursor,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let rows = sqlx::query(include_str!("read_log.sql"))
        .bind(cursor.position)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(RecordedEvent {
                cursor: LogCursor {
                    transaction_id: row.try_get("transaction_id")?,
                    position: row.try_get("position")?,
                },
                event_id: parse_uuid(row.try_get("event_id")?)?,
                aggregate_type: row.try_get("aggregate_type")?,
                aggregate_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: parse_json(row.try_get("payload")?)?,
                metadata: parse_json(row.try_get("metadata")?)?,
                recorded_at: row.try_get("recorded_at")?,
            })
        })
        .collect()
}

fn epoch_millis() -> i64 {
    Utc::now().timestamp_millis()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl Storage for SqliteDb {
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

    async fn append(&self, request: Append) -> Result<Vec<Appended>, CommitError> {
        // One writer at a time: every commit holds one command (no group commit here).
        metrics::histogram!(observability::metrics::GROUP_COMMIT_BATCH).record(1.0);
        append(self, &request).await
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
                        event_id: parse_uuid(row.try_get("event_id")?)?,
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
        let mut conn = self.pool.acquire().await?;
        read_log(&mut conn, cursor, limit).await
    }

    async fn head_position(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(include_str!("head_position.sql"))
            .fetch_one(&self.pool)
            .await
    }

    async fn count_after(&self, cursor: LogCursor) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(include_str!("count_after.sql"))
            .bind(cursor.position)
            .fetch_one(&self.pool)
            .await
    }

    async fn any_after(&self, cursor: LogCursor) -> Result<bool, sqlx::Error> {
        sqlx::query_scalar(include_str!("any_after.sql"))
            .bind(cursor.position)
            .fetch_one(&self.pool)
            .await
    }

    async fn covers(&self, cursor: LogCursor, position: i64) -> Result<Option<bool>, sqlx::Error> {
        sqlx::query_scalar(include_str!("cursor_covers.sql"))
            .bind(cursor.position)
            .bind(position)
            .fetch_optional(&self.pool)
            .await
    }

    fn appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    async fn wake_readers(&self) -> Result<(), sqlx::Error> {
        self.notify_appended();
        Ok(())
    }

    async fn try_lease(
        &self,
        key: &str,
        holder: &str,
        duration: Duration,
    ) -> Result<Option<Box<dyn HeldLease>>, sqlx::Error> {
        // The holder as stored: with what tells another process whether this one died
        // (see `holder_is_dead`).
        let holder = format!("{}/{holder}", ProcessId::current());
        let mut taken = self.acquire_lease(key, &holder, duration, None).await?;
        if !taken {
            if let Some(dead) = self
                .lease_holder(key)
                .await?
                .filter(|current| holder_is_dead(current))
            {
                tracing::info!(key, holder = dead, "taking over the lease of a process that died");
                taken = self.acquire_lease(key, &holder, duration, Some(&dead)).await?;
            }
        }
        Ok(taken.then(|| {
            Box::new(LeaseRow {
                db: self.clone(),
                key: key.to_owned(),
                holder,
                duration,
            }) as Box<dyn HeldLease>
        }))
    }

    async fn lease_held(&self, key: &str) -> Result<bool, sqlx::Error> {
        let holder: Option<String> = sqlx::query_scalar(include_str!("lease_holder.sql"))
            .bind(key)
            .bind(epoch_millis())
            .fetch_optional(&self.pool)
            .await?;
        Ok(holder.is_some_and(|holder| !holder_is_dead(&holder)))
    }
}

impl SqliteDb {
    /// Takes lease `key` for `holder` if it is free, expired, already this holder's, or
    /// held by `dead` (a holder whose process died). Whether it was taken.
    async fn acquire_lease(
        &self,
        key: &str,
        holder: &str,
        duration: Duration,
        dead: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let now = epoch_millis();
        let changed = self
            .write(
                sqlx::query(include_str!("acquire_lease.sql"))
                    .bind(key)
                    .bind(holder)
                    .bind(now.saturating_add(millis(duration)))
                    .bind(now)
                    .bind(dead),
            )
            .await?;
        Ok(changed == 1)
    }

    /// Who holds lease `key` now (unexpired).
    async fn lease_holder(&self, key: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(include_str!("lease_holder.sql"))
            .bind(key)
            .bind(epoch_millis())
            .fetch_optional(&self.pool)
            .await
    }
}

/// Which process of which machine holds a lease: the kernel's boot id, the process's
/// PID namespace and its id (`<boot>:<namespace>:<pid>`; empty parts where the system
/// does not say, outside Linux).
struct ProcessId {
    boot: String,
    namespace: String,
    pid: u32,
}

impl ProcessId {
    fn current() -> Self {
        let read = |path: &str| {
            std::fs::read_link(path)
                .map(|target| target.display().to_string())
                .or_else(|_| std::fs::read_to_string(path))
                .map(|text| text.trim().replace([':', '/'], "_"))
                .unwrap_or_default()
        };
        ProcessId {
            boot: read("/proc/sys/kernel/random/boot_id"),
            namespace: read("/proc/self/ns/pid"),
            pid: std::process::id(),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        Some(ProcessId {
            boot: parts.next()?.to_owned(),
            namespace: parts.next()?.to_owned(),
            pid: parts.next()?.parse().ok()?,
        })
    }
}

impl std::fmt::Display for ProcessId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.boot, self.namespace, self.pid)
    }
}

/// Whether a lease's holder (`<process>/<id>`, see [`ProcessId`]) belonged to a process
/// of this machine that is gone: SQLite files are local, so a process that died is
/// recognised at once, where waiting for its lease to expire would hold its successor
/// back (a restart after a crash). Gone: the machine rebooted since (another boot id),
/// or, in this PID namespace, no process has its id any more (`/proc`). Anything this
/// process cannot see (another namespace: another container on the same volume; a
/// system without `/proc`) is taken as alive, and its lease expires as usual; so is a
/// holder of this very process (another instance of a consumer in it).
fn holder_is_dead(holder: &str) -> bool {
    let Some(holder) = holder
        .split_once('/')
        .and_then(|(process, _)| ProcessId::parse(process))
    else {
        return false;
    };
    let this = ProcessId::current();
    if holder.boot.is_empty() || this.boot.is_empty() {
        return false;
    }
    if holder.boot != this.boot {
        return true;
    }
    holder.namespace == this.namespace
        && !holder.namespace.is_empty()
        && holder.pid != this.pid
        && !Path::new("/proc").join(holder.pid.to_string()).exists()
}

/// A lease held as a row of `leases`.
struct LeaseRow {
    db: SqliteDb,
    key: String,
    holder: String,
    duration: Duration,
}

#[async_trait]
impl HeldLease for LeaseRow {
    async fn renew(&mut self) -> Result<bool, sqlx::Error> {
        let renewed = self
            .db
            .write(
                sqlx::query(include_str!("renew_lease.sql"))
                    .bind(&self.key)
                    .bind(&self.holder)
                    .bind(epoch_millis().saturating_add(millis(self.duration))),
            )
            .await?;
        Ok(renewed == 1)
    }

    async fn release(self: Box<Self>) {
        let released = self
            .db
            .write(
                sqlx::query(include_str!("release_lease.sql"))
                    .bind(&self.key)
                    .bind(&self.holder),
            )
            .await;
        if let Err(error) = released {
            tracing::warn!(%error, key = self.key, "lease not released; it will expire");
        }
    }
}

/// Loads aggregate streams through sqlite-es.
pub(crate) fn stream_loader<A: cqrs_es::Aggregate + 'static>(
    db: &SqliteDb,
    upcasters: Vec<Box<dyn cqrs_es::persist::EventUpcaster>>,
) -> Box<dyn crate::aggregate_store::LoadStream<A>> {
    Box::new(
        cqrs_es::persist::PersistedEventStore::new_event_store(sqlite_es::SqliteEventRepository::new(
            db.pool.clone(),
        ))
        .with_upcasters(upcasters),
    )
}
