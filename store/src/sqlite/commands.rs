//! The `commands` table on SQLite (see [`crate::commands`]): ids as text, JSON as text,
//! writes through this process's writer turn.

use crate::commands::{Backlog, CommandRecord, CommandStatus, CommandStorage, CommandToRun, NewCommand};
use crate::sqlite::{parse_uuid, SqliteDb};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

pub(crate) struct Commands {
    db: SqliteDb,
}

impl Commands {
    pub(crate) fn new(db: &SqliteDb) -> Self {
        Commands { db: db.clone() }
    }
}

fn json(text: &str) -> Result<Value, sqlx::Error> {
    serde_json::from_str(text).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

fn record(row: &SqliteRow) -> Result<CommandRecord, sqlx::Error> {
    Ok(CommandRecord {
        command_id: parse_uuid(row.try_get("command_id")?)?,
        command_type: row.try_get("command_type")?,
        payload: json(row.try_get("payload")?)?,
        status: CommandStatus::parse(row.try_get("status")?)?,
        submitted_at: row.try_get("submitted_at")?,
        completed_at: row.try_get("completed_at")?,
        result: row.try_get::<Option<&str>, _>("result")?.map(json).transpose()?,
        issued_by: row
            .try_get::<Option<&str>, _>("issued_by")?
            .map(json)
            .transpose()?,
    })
}

#[async_trait]
impl CommandStorage for Commands {
    async fn insert(&self, command: &NewCommand, submitted_at: DateTime<Utc>) -> Result<bool, sqlx::Error> {
        let (key, hash) = match &command.idempotency {
            Some(claim) => (Some(claim.key.as_str()), Some(claim.request_hash.as_slice())),
            None => (None, None),
        };
        let inserted = self
            .db
            .write(
                sqlx::query(include_str!("commands/insert.sql"))
                    .bind(command.command_id.to_string())
                    .bind(&command.command_type)
                    .bind(command.payload.to_string())
                    .bind(command.queued)
                    .bind(key)
                    .bind(hash)
                    .bind(submitted_at)
                    .bind(command.issued_by.as_ref().map(Value::to_string)),
            )
            .await?;
        Ok(inserted > 0)
    }

    async fn find(&self, command_id: Uuid) -> Result<Option<CommandRecord>, sqlx::Error> {
        sqlx::query(include_str!("commands/find.sql"))
            .bind(command_id.to_string())
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| record(&row))
            .transpose()
    }

    async fn find_by_key(&self, key: &str) -> Result<Option<(CommandRecord, Option<Vec<u8>>)>, sqlx::Error> {
        sqlx::query(include_str!("commands/find_by_key.sql"))
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| Ok((record(&row)?, row.try_get("request_hash")?)))
            .transpose()
    }

    async fn pending(&self, limit: i64) -> Result<Vec<CommandRecord>, sqlx::Error> {
        sqlx::query(include_str!("commands/pending.sql"))
            .bind(limit)
            .fetch_all(self.db.pool())
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
        let stored = self
            .db
            .write(
                sqlx::query(include_str!("commands/complete.sql"))
                    .bind(command.command_id.to_string())
                    .bind(&command.command_type)
                    .bind(command.payload.to_string())
                    .bind(status.as_str())
                    .bind(completed_at)
                    .bind(result.to_string())
                    .bind(command.issued_by.as_ref().map(Value::to_string)),
            )
            .await?;
        Ok(stored > 0)
    }

    async fn withdraw(&self, command_id: Uuid) -> Result<(), sqlx::Error> {
        self.db
            .write(sqlx::query(include_str!("commands/withdraw.sql")).bind(command_id.to_string()))
            .await?;
        Ok(())
    }

    async fn pending_count(&self) -> Result<Backlog, sqlx::Error> {
        let row = sqlx::query(include_str!("commands/count_pending.sql"))
            .fetch_one(self.db.pool())
            .await?;
        Ok(Backlog {
            pending: row.try_get("pending")?,
            oldest_submitted_at: row.try_get("oldest_submitted_at")?,
        })
    }
}
