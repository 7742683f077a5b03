//! Test helpers shared by the workspace's test suites; a dev-dependency only.
//!
//! [`TestDb`]: every test gets its own freshly created, migrated Postgres database
//! (so tests run in parallel without seeing each other's events), dropped with the
//! value. The server is `TEST_DATABASE_SERVER`, by default the local Postgres.

use sqlx::PgPool;
use uuid::Uuid;

/// The Postgres server the test databases are created on.
pub fn database_server() -> String {
    std::env::var("TEST_DATABASE_SERVER").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A new, migrated database, dropped (with its connections) when the value is.
pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    name: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
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
        store::migrate(&pool).await.expect("migrations");
        TestDb { pool, url, name }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
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
