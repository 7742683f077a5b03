//! [`Database`]: the storage backend every layer writes to, chosen once at startup.
//!
//! - **Postgres** (`postgres://…`): the production backend. Several processes can share
//!   it; the log is read in commit order through transaction ids, readers are woken by
//!   LISTEN/NOTIFY, one projector and one relay lead through advisory locks.
//! - **SQLite** (`sqlite://path`, the embedded default): one file, for `cargo run` on a
//!   fresh machine. SQLite has a single writer, so positions are assigned in commit
//!   order and a reader's cursor is just the position. Writes of this process queue on
//!   an in-process lock before `BEGIN IMMEDIATE` (no busy-waiting inside SQLite), and
//!   readers are woken in-process after each append.
//!
//! Each layer keeps its logic backend-neutral and dispatches only its statements on
//! this enum (SQL in `sql/postgres/` and `sql/sqlite/` of each crate).

use crate::error::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

/// The migrations of each backend, embedded in the binary so `alpes migrate` and
/// `alpes serve` need no files beside them.
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// A handle on the database. Cheap to clone (pool handles).
#[derive(Clone, Debug)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqliteDb),
}

/// Which backend a [`Database`] is, for logs and status output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The backend a database URL names: `postgres://`/`postgresql://` or `sqlite:`.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Database {
    /// Opens the database a URL names. Postgres connects lazily (a database that is
    /// down makes `/ready` fail rather than the process refuse to start); a SQLite file
    /// (and its directory) is created if missing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Database, StoreError> {
        match Backend::of_url(url) {
            Some(Backend::Postgres) => {
                let options = PgConnectOptions::from_str(url)?;
                Ok(Database::Postgres(connect_lazy(options, max_connections)))
            }
            Some(Backend::Sqlite) => Ok(Database::Sqlite(SqliteDb::open(url, max_connections).await?)),
            None => Err(StoreError::Unavailable(
                "the database URL must start with postgres://, postgresql:// or sqlite:".into(),
            )),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Database::Postgres(_) => Backend::Postgres,
            Database::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Database::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
            Database::Sqlite(db) => SQLITE_MIGRATOR.run(&db.pool).await?,
        }
        Ok(())
    }

    /// Whether the database answers a trivial query now (`/ready`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Database::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Database::Sqlite(db) => sqlx::query("SELECT 1").execute(&db.pool).await.map(drop),
        }
    }

    /// Closes every connection (waits for those in use to be returned).
    pub async fn close(&self) {
        match self {
            Database::Postgres(pool) => pool.close().await,
            Database::Sqlite(db) => db.pool.close().await,
        }
    }

    /// The Postgres pool, if this is Postgres (for Postgres-only operations and tests).
    pub fn as_postgres(&self) -> Option<&PgPool> {
        match self {
            Database::Postgres(pool) => Some(pool),
            Database::Sqlite(_) => None,
        }
    }

    pub fn as_sqlite(&self) -> Option<&SqliteDb> {
        match self {
            Database::Sqlite(db) => Some(db),
            Database::Postgres(_) => None,
        }
    }
}

impl From<PgPool> for Database {
    fn from(pool: PgPool) -> Self {
        Database::Postgres(pool)
    }
}

/// A pooled connection used this recently is taken as alive; one idle for longer is
/// pinged before it is handed out (and replaced if the ping fails). HikariCP's rule
/// (its `aliveBypassWindowMs`), for the same reason: sqlx's default pings on every
/// acquire, one more round trip for each statement run on the pool, which under
/// command load cost as much as the statements themselves.
const ALIVE_WITHOUT_PING: Duration = Duration::from_secs(1);

/// Opens a Postgres pool lazily.
pub fn connect_lazy(options: PgConnectOptions, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        // A request waits this long for a connection before it fails (503 on /ready,
        // an opaque 500 on a command) instead of hanging.
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
    /// Postgres's NOTIFY, watched by [`crate::reader::LogWaker`].
    appended: Arc<watch::Sender<u64>>,
}

impl SqliteDb {
    /// Opens (creating if needed) the file a `sqlite:` URL names, in WAL mode with
    /// `synchronous=FULL`: a commit has reached the disk when it returns, so a 2xx
    /// answer means the events survive a power cut.
    pub async fn open(url: &str, max_connections: u32) -> Result<SqliteDb, StoreError> {
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

    /// Starts a write transaction: waits for this process's writer turn, then
    /// `BEGIN IMMEDIATE` (takes SQLite's write lock now, so the transaction cannot fail
    /// later because another connection wrote since it read).
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
    pub fn notify_appended(&self) {
        self.appended.send_modify(|count| *count = count.wrapping_add(1));
    }

    /// A receiver that changes after each [`SqliteDb::notify_appended`].
    pub fn watch_appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
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
