//! The relay's statements on Postgres.

use crate::checkpoints::{cursor_of, RelayCheckpoints};
use async_trait::async_trait;
use sqlx::PgPool;
use store::postgres::PgDb;
use store::LogCursor;

pub(crate) struct Checkpoints {
    pool: PgPool,
}

impl Checkpoints {
    pub(crate) fn new(db: &PgDb) -> Self {
        Self {
            pool: db.pool().clone(),
        }
    }
}

#[async_trait]
impl RelayCheckpoints for Checkpoints {
    async fn load(&self, relay: &str) -> Result<LogCursor, sqlx::Error> {
        let row = sqlx::query_as(include_str!("load_checkpoint.sql"))
            .bind(relay)
            .fetch_optional(&self.pool)
            .await?;
        Ok(cursor_of(row))
    }

    async fn save(&self, relay: &str, cursor: LogCursor) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("save_checkpoint.sql"))
            .bind(relay)
            .bind(cursor.transaction_id)
            .bind(cursor.position)
            .execute(&self.pool)
            .await
            .map(drop)
    }
}
