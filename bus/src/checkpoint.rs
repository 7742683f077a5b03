//! The relay's checkpoint in `relay_checkpoints` (see the migration
//! `20261122100000_create_relay_checkpoints.sql`).

use sqlx::PgPool;
use store::reader::LogCursor;

/// The relay's saved cursor; the start of the log when it never saved one.
pub async fn load(pool: &PgPool, relay: &str) -> Result<LogCursor, sqlx::Error> {
    let row: Option<(i64, i64)> = sqlx::query_as(include_str!("../sql/load_checkpoint.sql"))
        .bind(relay)
        .fetch_optional(pool)
        .await?;
    Ok(row
        .map(|(transaction_id, position)| LogCursor {
            transaction_id,
            position,
        })
        .unwrap_or(LogCursor::START))
}

/// Moves the relay's cursor forward (never back; see the SQL).
pub async fn save(pool: &PgPool, relay: &str, cursor: LogCursor) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("../sql/save_checkpoint.sql"))
        .bind(relay)
        .bind(cursor.transaction_id)
        .bind(cursor.position)
        .execute(pool)
        .await?;
    Ok(())
}
