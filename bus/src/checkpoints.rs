//! The relay's checkpoint: a row per relay name in `relay_checkpoints` (see the
//! migrations `20261122100000_create_relay_checkpoints.sql` of each backend), read and
//! written by each backend in its folder (`postgres/`, `sqlite/`).

use async_trait::async_trait;
use store::postgres::PgDb;
use store::sqlite::SqliteDb;
use store::{LogCursor, PerBackend};

#[async_trait]
pub(crate) trait RelayCheckpoints: Send + Sync {
    /// The relay's saved cursor; the start of the log when it never saved one.
    async fn load(&self, relay: &str) -> Result<LogCursor, sqlx::Error>;
    /// Moves the relay's cursor forward (never back: see the statements).
    async fn save(&self, relay: &str, cursor: LogCursor) -> Result<(), sqlx::Error>;
}

// A `Box`, not an `Arc`: a trait of another crate can be implemented for
// `Box<dyn LocalTrait>` (`Box` is fundamental) but not for `Arc<dyn LocalTrait>`.
impl PerBackend for Box<dyn RelayCheckpoints> {
    fn postgres(db: &PgDb) -> Self {
        Box::new(crate::postgres::Checkpoints::new(db))
    }

    fn sqlite(db: &SqliteDb) -> Self {
        Box::new(crate::sqlite::Checkpoints::new(db))
    }
}

/// A saved cursor row, `(transaction_id, position)`, as both backends read it.
pub(crate) fn cursor_of(row: Option<(i64, i64)>) -> LogCursor {
    row.map(|(transaction_id, position)| LogCursor {
        transaction_id,
        position,
    })
    .unwrap_or(LogCursor::START)
}
