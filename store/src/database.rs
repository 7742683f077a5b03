//! [`Database`]: the storage backend every layer writes to, chosen once at startup,
//! and the one place that looks at which backend it is.
//!
//! - **Postgres** (`postgres://…`, [`crate::postgres`]): the production backend.
//!   Several processes can share it; the log is read in commit order through
//!   transaction ids, readers are woken by LISTEN/NOTIFY, leases are advisory locks.
//! - **SQLite** (`sqlite://path`, the embedded default, [`crate::sqlite`]): one file,
//!   for `cargo run` on a fresh machine. SQLite has a single writer, so positions are
//!   assigned in commit order and a reader's cursor is just the position; leases are
//!   rows that expire.
//!
//! Nothing outside this file and the two backend folders matches on the backend:
//! - the store's own operations (append, read the log, leases, wake-ups) go through
//!   [`Storage`], a trait each backend implements in its folder;
//! - another crate's statements (a read model's, the tracking service's) are picked
//!   by [`Database::per_backend`]: the crate implements [`PerBackend`] for its own
//!   storage trait object, with one constructor per backend, each in that crate's
//!   `postgres/` or `sqlite/` folder beside its `.sql` files.

use crate::error::StoreError;
use crate::postgres::PgDb;
use crate::sqlite::SqliteDb;
use crate::storage::Storage;
use std::str::FromStr;

/// A handle on the database. Cheap to clone (pool handles).
#[derive(Clone, Debug)]
pub struct Database {
    backend: Handle,
}

#[derive(Clone, Debug)]
enum Handle {
    Postgres(PgDb),
    Sqlite(SqliteDb),
}

/// Which backend a [`Database`] is, for logs, status output and tests.
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

/// Something each backend provides in its own way: a crate's statements, written
/// once per backend. [`Database::per_backend`] builds the one for the database at hand.
///
/// ```ignore
/// // A `Box`: a trait of another crate can be implemented for `Box<dyn LocalTrait>`
/// // (`Box` is fundamental), not for `Arc<dyn LocalTrait>`.
/// impl PerBackend for Box<dyn ViewStore> {
///     fn postgres(db: &PgDb) -> Self { Box::new(postgres::Views::new(db)) }
///     fn sqlite(db: &SqliteDb) -> Self { Box::new(sqlite::Views::new(db)) }
/// }
/// let views: Box<dyn ViewStore> = database.per_backend();
/// ```
pub trait PerBackend {
    fn postgres(db: &PgDb) -> Self;
    fn sqlite(db: &SqliteDb) -> Self;
}

impl Database {
    /// Opens the database a URL names. Postgres connects lazily (a database that is
    /// down makes `/ready` fail rather than the process refuse to start); a SQLite file
    /// (and its directory) is created if missing.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Database, StoreError> {
        let backend = match Backend::of_url(url) {
            Some(Backend::Postgres) => Handle::Postgres(PgDb::connect_lazy(
                sqlx::postgres::PgConnectOptions::from_str(url)?,
                max_connections,
            )),
            Some(Backend::Sqlite) => Handle::Sqlite(SqliteDb::open(url, max_connections).await?),
            None => {
                return Err(StoreError::Unavailable(
                    "the database URL must start with postgres://, postgresql:// or sqlite:".into(),
                ))
            }
        };
        Ok(Database { backend })
    }

    pub fn backend(&self) -> Backend {
        match &self.backend {
            Handle::Postgres(_) => Backend::Postgres,
            Handle::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// What this backend provides as `T` (see [`PerBackend`]).
    pub fn per_backend<T: PerBackend>(&self) -> T {
        match &self.backend {
            Handle::Postgres(db) => T::postgres(db),
            Handle::Sqlite(db) => T::sqlite(db),
        }
    }

    /// The store's own operations on this backend.
    pub(crate) fn storage(&self) -> &dyn Storage {
        match &self.backend {
            Handle::Postgres(db) => db,
            Handle::Sqlite(db) => db,
        }
    }

    /// Loads aggregate streams of type `A` through the backend's cqrs-es repository.
    pub(crate) fn stream_loader<A: cqrs_es::Aggregate + 'static>(
        &self,
        upcasters: Vec<Box<dyn cqrs_es::persist::EventUpcaster>>,
    ) -> Box<dyn crate::aggregate_store::LoadStream<A>> {
        match &self.backend {
            Handle::Postgres(db) => crate::postgres::stream_loader(db, upcasters),
            Handle::Sqlite(db) => crate::sqlite::stream_loader(db, upcasters),
        }
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.storage().migrate().await
    }

    /// Whether the database answers a trivial query now (`/ready`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.storage().ping().await
    }

    /// Closes every connection (waits for those in use to be returned).
    pub async fn close(&self) {
        self.storage().close().await
    }

    /// The connection pool's figures now (`/metrics`).
    pub fn pool_figures(&self) -> PoolFigures {
        match &self.backend {
            Handle::Postgres(db) => PoolFigures::of(db.pool()),
            Handle::Sqlite(db) => PoolFigures::of(db.pool()),
        }
    }

    /// The Postgres pool, if this is Postgres: for tests and tools that inspect the
    /// database directly. The application's code goes through [`Storage`] and
    /// [`PerBackend`] instead.
    pub fn as_postgres(&self) -> Option<&sqlx::PgPool> {
        match &self.backend {
            Handle::Postgres(db) => Some(db.pool()),
            Handle::Sqlite(_) => None,
        }
    }

    /// The SQLite database, if this is SQLite (for tests and tools, as
    /// [`Database::as_postgres`]).
    pub fn as_sqlite(&self) -> Option<&SqliteDb> {
        match &self.backend {
            Handle::Sqlite(db) => Some(db),
            Handle::Postgres(_) => None,
        }
    }
}

impl From<sqlx::PgPool> for Database {
    fn from(pool: sqlx::PgPool) -> Self {
        Database {
            backend: Handle::Postgres(PgDb::new(pool)),
        }
    }
}

/// A connection pool's figures at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolFigures {
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: u32,
    /// The most it opens: with all of them in use, callers wait.
    pub max: u32,
}

impl PoolFigures {
    fn of<DB: sqlx::Database>(pool: &sqlx::Pool<DB>) -> Self {
        PoolFigures {
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }

    pub fn in_use(&self) -> u32 {
        self.size.saturating_sub(self.idle)
    }
}
