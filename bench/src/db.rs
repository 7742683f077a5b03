//! A fresh database per benchmark, dropped afterwards: with our schema, or with the
//! stock postgres-es one for the stock baselines.

use sqlx::PgPool;
use uuid::Uuid;

pub fn server() -> String {
    std::env::var("BENCH_DATABASE_SERVER").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A new, migrated database.
pub struct BenchDb {
    pub url: String,
    pub pool: PgPool,
    name: String,
}

impl BenchDb {
    /// With our schema (`migrations/postgres`).
    pub async fn create() -> anyhow::Result<Self> {
        let db = Self::empty().await?;
        store::Database::from(db.pool.clone()).migrate().await?;
        Ok(db)
    }

    /// With only the `events` table of stock postgres-es, what a team wiring up the
    /// stock crates creates: our first migration, which is postgres-es 0.5's `db/init.sql`
    /// table unchanged. None of our additions (global position, event ids, the
    /// commit-order index): the stock path is measured on what it needs.
    pub async fn create_stock() -> anyhow::Result<Self> {
        let db = Self::empty().await?;
        sqlx::raw_sql(include_str!(
            "../../migrations/postgres/20261122000001_create_events.sql"
        ))
        .execute(&db.pool)
        .await?;
        Ok(db)
    }

    async fn empty() -> anyhow::Result<Self> {
        let name = format!("alpes_bench_{}", Uuid::new_v4().simple());
        let admin = PgPool::connect(&format!("{}/postgres", server())).await?;
        sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
            .execute(&admin)
            .await?;
        let url = format!("{}/{name}", server());
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .connect(&url)
            .await?;
        Ok(Self { url, pool, name })
    }

    pub async fn drop(self) -> anyhow::Result<()> {
        self.pool.close().await;
        let admin = PgPool::connect(&format!("{}/postgres", server())).await?;
        sqlx::query(&format!(
            r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
            self.name
        ))
        .execute(&admin)
        .await?;
        Ok(())
    }
}
