//! Test helpers shared by the workspace's test suites; a dev-dependency only.
//!
//! [`TestDb`]: every test gets its own fresh, migrated database (so tests run in
//! parallel without seeing each other's events), dropped with the value:
//! - Postgres: a UUID-named database on `TEST_DATABASE_SERVER` (by default the local
//!   Postgres), dropped with `FORCE`;
//! - SQLite: a file in a temporary directory, removed with it.
//!
//! [`TestDb::new`] picks the backend from `ALPES_TEST_BACKEND` (`postgres`, the
//! default, or `sqlite`): the same behaviour suite runs once per backend
//! (`scripts/test` runs it both ways).

use sqlx::PgPool;
use std::path::PathBuf;
use store::{Backend, Database};
use uuid::Uuid;

/// The Postgres server the test databases are created on.
pub fn database_server() -> String {
    std::env::var("TEST_DATABASE_SERVER").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// The backend the behaviour suites run on in this run (`ALPES_TEST_BACKEND`).
pub fn backend() -> Backend {
    match std::env::var("ALPES_TEST_BACKEND").as_deref() {
        Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") | Ok("") | Err(_) => Backend::Postgres,
        Ok(other) => panic!("ALPES_TEST_BACKEND must be postgres or sqlite, not {other:?}"),
    }
}

/// A new, migrated database, dropped (with its connections) when the value is.
pub struct TestDb {
    pub db: Database,
    /// The URL an application under test connects to (`postgres://…` or `sqlite://…`).
    pub url: String,
    name: String,
    /// The SQLite file's directory, removed on drop.
    directory: Option<PathBuf>,
}

impl TestDb {
    /// A database of the backend this run tests ([`backend`]).
    pub async fn new() -> TestDb {
        Self::of(backend()).await
    }

    pub async fn of(backend: Backend) -> TestDb {
        match backend {
            Backend::Postgres => Self::postgres().await,
            Backend::Sqlite => Self::sqlite().await,
        }
    }

    /// A Postgres database, whatever the run's backend (Postgres-only behaviour).
    pub async fn postgres() -> TestDb {
        let name = format!("alpes_test_{}", Uuid::new_v4().simple());
        let admin = PgPool::connect(&format!("{}/postgres", database_server()))
            .await
            .expect("connect to the test Postgres");
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&admin)
            .await
            .expect("create the test database");
        admin.close().await;
        let url = format!("{}/{name}", database_server());
        let pool = PgPool::connect(&url).await.expect("connect to the test database");
        let db = Database::from(pool);
        db.migrate().await.expect("migrations");
        TestDb {
            db,
            url,
            name,
            directory: None,
        }
    }

    /// A SQLite database in a file of its own.
    pub async fn sqlite() -> TestDb {
        let name = format!("alpes_test_{}", Uuid::new_v4().simple());
        let directory = std::env::temp_dir().join(&name);
        let url = format!("sqlite://{}/alpes.db", directory.display());
        let db = Database::connect(&url, 8)
            .await
            .expect("open the test SQLite file");
        db.migrate().await.expect("migrations");
        TestDb {
            db,
            url,
            name,
            directory: Some(directory),
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The Postgres pool, for tests of Postgres-only behaviour (panics on SQLite).
    pub fn pool(&self) -> &PgPool {
        self.db
            .as_postgres()
            .expect("this test needs Postgres (TestDb::postgres())")
    }
}

/// Runs `sql` on either backend, with `$1`, `$2`, … bound to `args`, and reads the
/// first column of its one row: for tests that look at tables directly
/// (`SELECT count(*) FROM events WHERE aggregate_id = $1`).
pub async fn value<T>(db: &Database, sql: &str, args: &[&str]) -> T
where
    T: Send
        + Unpin
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>,
{
    let fetched = if let Some(pool) = db.as_postgres() {
        let mut query = sqlx::query_scalar(sql);
        for arg in args {
            query = query.bind(*arg);
        }
        query.fetch_one(pool).await
    } else {
        let sqlite = db.as_sqlite().expect("a database of one of the two backends");
        let mut query = sqlx::query_scalar(sql);
        for arg in args {
            query = query.bind(*arg);
        }
        query.fetch_one(sqlite.pool()).await
    };
    fetched.unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// [`value`], an integer.
pub async fn scalar(db: &Database, sql: &str, args: &[&str]) -> i64 {
    value(db, sql, args).await
}

/// [`value`], a text.
pub async fn text(db: &Database, sql: &str, args: &[&str]) -> String {
    value(db, sql, args).await
}

/// Runs a write statement on either backend (`$1`, … bound to `args`); the rows it
/// changed. On SQLite it takes this process's writer turn, as every write does.
pub async fn execute(db: &Database, sql: &str, args: &[&str]) -> u64 {
    if let Some(pool) = db.as_postgres() {
        let mut query = sqlx::query(sql);
        for arg in args {
            query = query.bind(*arg);
        }
        return query
            .execute(pool)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
            .rows_affected();
    }
    let sqlite = db.as_sqlite().expect("a database of one of the two backends");
    let mut write = sqlite.begin_write().await.expect("a write transaction");
    let mut query = sqlx::query(sql);
    for arg in args {
        query = query.bind(*arg);
    }
    let changed = query
        .execute(&mut *write)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .rows_affected();
    write.commit().await.expect("commit");
    changed
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(directory) = &self.directory {
            // Open connections do not stop the removal on Unix; the files go with them.
            let _ = std::fs::remove_dir_all(directory);
            return;
        }
        // Drop is synchronous and the test's runtime may be shutting down: use a thread
        // with its own small runtime. FORCE closes what still holds connections.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = PgPool::connect(&format!("{}/postgres", database_server())).await {
                    let _ = sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                        .execute(&admin)
                        .await;
                }
            });
        })
        .join();
    }
}
