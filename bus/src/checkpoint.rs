//! The relay's checkpoint in `relay_checkpoints` (see the migrations
//! `20261122100000_create_relay_checkpoints.sql` of each backend).

use store::reader::LogCursor;
use store::Database;

/// The relay's saved cursor; the start of the log when it never saved one.
pub async fn load(database: &Database, relay: &str) -> Result<LogCursor, sqlx::Error> {
    let row: Option<(i64, i64)> = match database {
        Database::Postgres(pool) => {
            sqlx::query_as(include_str!("../sql/postgres/load_checkpoint.sql"))
                .bind(relay)
                .fetch_optional(pool)
                .await?
        }
        Database::Sqlite(db) => {
            sqlx::query_as(include_str!("../sql/sqlite/load_checkpoint.sql"))
                .bind(relay)
                .fetch_optional(db.pool())
                .await?
        }
    };
    Ok(row
        .map(|(transaction_id, position)| LogCursor {
            transaction_id,
            position,
        })
        .unwrap_or(LogCursor::START))
}

/// Moves the relay's cursor forward (never back; see the SQL).
pub async fn save(database: &Database, relay: &str, cursor: LogCursor) -> Result<(), sqlx::Error> {
    match database {
        Database::Postgres(pool) => {
            sqlx::query(include_str!("../sql/postgres/save_checkpoint.sql"))
                .bind(relay)
                .bind(cursor.transaction_id)
                .bind(cursor.position)
                .execute(pool)
                .await?;
        }
        Database::Sqlite(db) => {
            // Every SQLite write takes this process's writer turn (store::database).
            let mut write = db.begin_write().await?;
            sqlx::query(include_str!("../sql/sqlite/save_checkpoint.sql"))
                .bind(relay)
                .bind(cursor.transaction_id)
                .bind(cursor.position)
                .execute(&mut *write)
                .await?;
            write.commit().await?;
        }
    }
    Ok(())
}
