//! The relay's statements on SQLite. Every write takes this process's writer turn
//! (`SqliteDb::begin_write`).

use crate::checkpoints::{cursor_of, RelayCheckpoints};
use async_trait::async_trait;
use store::sqlite::SqliteDb;
use store::LogCursor;

pub(crate) struct Checkpoints {
    db: SqliteDb,
}

impl Checkpoints {
    pub(crate) fn new(db: &SqliteDb) -> Self {
        Self { db: db.clone() }
    }
}

#[async_trait]
impl RelayCheckpoints for Checkpoints {
    async fn load(&self, relay: &str) -> Result<LogCursor, sqlx::Error> {
        let row = sqlx::query_as(include_str!("load_checkpoint.sql"))
            .bind(relay)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(cursor_of(row))
    }

    async fn save(&self, relay: &str, cursor: LogCursor) -> Result<(), sqlx::Error> {
        let mut write = self.db.begin_write().await?;
        sqlx::query(include_str!("save_checkpoint.sql"))
            .bind(relay)
            .bind(cursor.transaction_id)
            .bind(cursor.position)
            .execute(&mut *write)
            .await?;
        write.commit().await
    }
}
