//! The `commands` table on Postgres (see [`crate::commands`]).

use crate::commands::{Backlog, CommandRecord, CommandStatus, CommandStorage, CommandToRun, NewCommand};
use crate::postgres::PgDb;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

pub(crate) struct Commands {
    pool: PgPool,
}

impl Commands {
    pub(crate) fn new(db: &PgDb) -> Self {
        Commands {
            pool: db.pool().clone(),
        }
    }
}

fn record(row: &PgRow) -> Result<CommandRecord, sqlx::Error> {
    Ok(CommandRecord {
        command_id: row.try_get("command_id")?,
        command_type: row.try_get("command_type")?,
        payload: row.try_get("payload")?,
        status: CommandStatus::parse(row.try_get("status")?)?,
        submitted_at: row.try_get("submitted_at")?,
        completed_at: row.try_get("completed_at")?,
        result: row.try_get("result")?,
        issued_by: row.try_get("issued_by")?,
    })
}

#[async_trait]
impl CommandStorage for Commands {
    async fn insert(&self, command: &NewCommand, submitted_at: DateTime<Utc>) -> Result<bool, sqlx::Error> {
        let (key, hash) = match &command.idempotency {
            Some(claim) => (Some(claim.key.as_str()), Some(claim.request_hash.as_slice())),
            None => (None, None),
        };
        let inserted = sqlx::query(include_str!("commands/insert.sql"))
            .bind(command.command_id)
            .bind(&command.command_type)
            .bind(&command.payload)
            .bind(command.queued)
            .bind(key)
            .bind(hash)
            .bind(submitted_at)
            .bind(&command.issued_by)
            .fetch_optional(&self.pool)
            .await?;
        Ok(inserted.is_some())
    }

    async fn find(&self, command_id: Uuid) -> Result<Option<CommandRecord>, sqlx::Error> {
        sqlx::query(include_str!("commands/find.sql"))
            .bind(command_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| record(&row))
            .transpose()
    }

    async fn find_by_key(&self, key: &str) -> Result<Option<(CommandRecord, Option<Vec<u8>>)>, sqlx::Error> {
        sqlx::query(include_str!("commands/find_by_key.sql"))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Ok((record(&row)?, row.try_get("request_hash")?)))
            .transpose()
    }

    async fn pending(&self, limit: i64) -> Result<Vec<CommandRecord>, sqlx::Error> {
        sqlx::query(include_str!("commands/pending.sql"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(record)
            .collect()
    }

    async fn complete(
        &self,
        command: &CommandToRun,
        status: CommandStatus,
        result: &Value,
        completed_at: DateTime<Utc>,
    ) -> Result<bool, sqlx::Error> {
        let stored = sqlx::query(include_str!("commands/complete.sql"))
            .bind(command.command_id)
            .bind(&command.command_type)
            .bind(&command.payload)
            .bind(status.as_str())
            .bind(completed_at)
            .bind(result)
            .bind(&command.issued_by)
            .fetch_optional(&self.pool)
            .await?;
        Ok(stored.is_some())
    }

    async fn withdraw(&self, command_id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("commands/withdraw.sql"))
            .bind(command_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn pending_count(&self) -> Result<Backlog, sqlx::Error> {
        let row = sqlx::query(include_str!("commands/count_pending.sql"))
            .fetch_one(&self.pool)
            .await?;
        Ok(Backlog {
            pending: row.try_get("pending")?,
            oldest_submitted_at: row.try_get("oldest_submitted_at")?,
        })
    }
}
