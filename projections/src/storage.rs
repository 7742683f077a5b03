//! What the projections need from a database, as two traits each backend implements in
//! its folder (`postgres/`, `sqlite/`, beside its `.sql` files): [`ViewStore`] for
//! what runs on its own (checkpoint rows, queries, a rebuild's marks) and
//! [`ViewTransaction`], the write transaction a batch (or a rebuild's step) runs in.
//! Nothing else in this crate knows which backend it runs on.

use crate::projection::Tables;
use crate::queries::{CampaignFilter, PartnerFilter, StreamEvent};
use async_trait::async_trait;
use serde_json::{Map, Value};
use std::collections::HashSet;
use store::postgres::PgDb;
use store::sqlite::SqliteDb;
use store::{LogCursor, PerBackend, RecordedEvent};
use uuid::Uuid;

/// The projector's progress as stored in `projector_checkpoints`.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    pub cursor: LogCursor,
    pub events_applied: i64,
    pub failed_event_id: Option<Uuid>,
    pub failed_position: Option<i64>,
    pub last_error: Option<String>,
    pub rebuilding: bool,
    pub rebuild_position: Option<i64>,
}

/// A statement that writes a batch's rows, one per backend (`<name>.sql` in each
/// backend's folder); `{table}` in it names the live table or its shadow copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statement {
    /// `upsert_campaigns.sql`: rows of `campaign_view`.
    UpsertCampaigns,
    /// `insert_participations.sql`: rows of `partner_campaigns`.
    InsertParticipations,
    /// `delete_participations.sql`: a list of campaign ids.
    DeleteParticipations,
    /// `upsert_partners.sql`: rows of `partner_view`.
    UpsertPartners,
}

/// One of a projection's tables, in one of its copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// The live table's name (`campaign_view`): which row type it holds.
    pub base: &'static str,
    pub copy: Tables,
}

impl Table {
    pub fn name(&self) -> String {
        self.copy.name(self.base)
    }
}

/// A view row as written: its columns as JSON, and what a backend may need to store
/// them (see [`crate::rows::Document`]).
#[derive(Debug, Clone)]
pub struct RowDocument {
    pub columns: Map<String, Value>,
    /// The columns holding timestamps.
    pub timestamps: &'static [&'static str],
    /// Columns only the SQLite table has, derived from the row.
    pub sqlite_columns: Map<String, Value>,
}

/// The statements that run on their own (each in its own transaction).
#[async_trait]
pub trait ViewStore: Send + Sync {
    /// A write transaction for derived data (a batch, a rebuild's step). On SQLite it
    /// takes this process's writer turn, as every write does.
    async fn begin(&self) -> Result<Box<dyn ViewTransaction>, sqlx::Error>;

    /// Creates the projector's row, at the start of the log, if it has none.
    async fn ensure_checkpoint(&self, name: &str) -> Result<(), sqlx::Error>;
    /// The projector's checkpoint (the default, at the start of the log, when it has no
    /// row yet).
    async fn checkpoint(&self, name: &str) -> Result<Checkpoint, sqlx::Error>;
    /// Records that the projector stopped at `event`, if its checkpoint is still `at`
    /// (a rebuild's swap or another leader may have moved it meanwhile).
    async fn record_failure(
        &self,
        name: &str,
        at: LogCursor,
        event: &RecordedEvent,
        reason: &str,
    ) -> Result<(), sqlx::Error>;
    /// Clears a failure, so the projector tries its event again. `false`: it had not
    /// failed.
    async fn retry(&self, name: &str) -> Result<bool, sqlx::Error>;
    /// Moves the checkpoint onto the event the projector failed on and records the
    /// skip. The skipped event's id; `None`: it had not failed.
    async fn skip(&self, name: &str) -> Result<Option<Uuid>, sqlx::Error>;
    /// Whether the projector has applied the event at global `position`; `None` when
    /// no event has that position.
    async fn applied(&self, name: &str, position: i64) -> Result<Option<bool>, sqlx::Error>;
    /// The events an operator skipped on the projector's view.
    async fn skipped_event_ids(&self, name: &str) -> Result<HashSet<Uuid>, sqlx::Error>;

    /// Shows the projector rebuilding, from position 0, by the rebuild `owner`.
    async fn mark_rebuilding(&self, name: &str, owner: &str) -> Result<(), sqlx::Error>;
    /// Stops showing it rebuilding: if `owner` still owns the rebuild, or whoever does
    /// (`None`: the owner died).
    async fn unmark_rebuilding(&self, name: &str, owner: Option<&str>) -> Result<(), sqlx::Error>;

    /// Rows of a live view by id, as JSON documents (the same statement batches use).
    async fn load_rows(&self, base: &'static str, ids: &[&str]) -> Result<Vec<Value>, sqlx::Error>;
    /// `limit` rows of `campaign_view` matching the filter after its `after`, by id.
    async fn list_campaigns(&self, filter: &CampaignFilter, limit: i64) -> Result<Vec<Value>, sqlx::Error>;
    /// `limit` rows of `partner_view` matching the filter after its `after`, by id.
    async fn list_partners(&self, filter: &PartnerFilter, limit: i64) -> Result<Vec<Value>, sqlx::Error>;
    /// The campaigns listing a partner: (id, name, status), by id.
    async fn partner_campaigns(&self, partner_id: &str)
        -> Result<Vec<(String, String, String)>, sqlx::Error>;
    /// A campaign's events, in stream order (read from the log itself).
    /// The stream of the aggregate `id` of type `aggregate_type`, from the log.
    async fn stream_events(&self, aggregate_type: &str, id: &str) -> Result<Vec<StreamEvent>, sqlx::Error>;
}

/// A write transaction for derived data. Dropped without [`ViewTransaction::commit`],
/// it rolls back.
#[async_trait]
pub trait ViewTransaction: Send {
    /// Rows of `table` with these ids, as JSON documents whose fields are its columns.
    async fn load_rows(&mut self, table: Table, ids: &[&str]) -> Result<Vec<Value>, sqlx::Error>;
    /// Runs `statement` on `table` with the rows as one JSON array parameter.
    async fn write_rows(
        &mut self,
        statement: Statement,
        table: Table,
        rows: &[RowDocument],
    ) -> Result<(), sqlx::Error>;
    /// Runs `statement` on `table` with a list of ids.
    async fn write_ids(
        &mut self,
        statement: Statement,
        table: Table,
        ids: &[&str],
    ) -> Result<(), sqlx::Error>;

    /// Runs a statement without parameters (the same text on both backends).
    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error>;

    /// Starts a nested transaction (a savepoint): a failed statement can be undone
    /// without losing what the enclosing transaction did.
    async fn savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.execute("SAVEPOINT view_step").await
    }
    /// Keeps what was done since the last [`ViewTransaction::savepoint`].
    async fn release_savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.execute("RELEASE SAVEPOINT view_step").await
    }
    /// Undoes what was done since the last [`ViewTransaction::savepoint`].
    async fn rollback_to_savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.execute("ROLLBACK TO SAVEPOINT view_step").await
    }

    /// The projector's cursor, read and locked for the rest of the transaction (Postgres:
    /// `FOR UPDATE`; SQLite: the write transaction holds the database's write lock).
    /// `None`: the projector has no row.
    async fn locked_cursor(&mut self, name: &str) -> Result<Option<LogCursor>, sqlx::Error>;
    /// Moves the checkpoint to `cursor` and counts `events` more applied.
    async fn advance(&mut self, name: &str, cursor: LogCursor, events: usize) -> Result<(), sqlx::Error>;

    /// The next events of the log after `cursor`, read in this transaction (a rebuild's
    /// final catch-up sees exactly what it swaps).
    async fn read_log(&mut self, cursor: LogCursor, limit: i64) -> Result<Vec<RecordedEvent>, sqlx::Error>;
    /// In every write transaction of a rebuild: checks that `owner` still owns it (under
    /// the checkpoint row's lock) and records how far it got (`None`: unchanged).
    /// `false`: another rebuild took it over, and this transaction must not commit.
    async fn rebuild_progress(
        &mut self,
        name: &str,
        owner: &str,
        position: Option<i64>,
    ) -> Result<bool, sqlx::Error>;
    async fn drop_shadow_tables(&mut self, tables: &[&'static str]) -> Result<(), sqlx::Error> {
        for table in tables {
            self.execute(&format!("DROP TABLE IF EXISTS {}", Tables::Shadow.name(table)))
                .await?;
        }
        Ok(())
    }
    /// Creates empty shadow copies of `tables`, with the same columns, constraints and
    /// indexes.
    async fn create_shadow_tables(&mut self, tables: &[&'static str]) -> Result<(), sqlx::Error>;
    /// Replaces the live tables by their shadow copies.
    async fn swap_tables(&mut self, tables: &[&'static str]) -> Result<(), sqlx::Error>;
    /// After the swap: the checkpoint is the rebuild's (`cursor`, `applied` events), any
    /// failure cleared.
    async fn rebuild_swapped(
        &mut self,
        name: &str,
        cursor: LogCursor,
        applied: i64,
    ) -> Result<(), sqlx::Error>;
    /// A rebuild failed: says why in the status.
    async fn rebuild_failed(&mut self, name: &str, reason: &str) -> Result<(), sqlx::Error>;

    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error>;
}

// A `Box`: a trait of another crate can be implemented for `Box<dyn LocalTrait>` (`Box`
// is fundamental), not for `Arc<dyn LocalTrait>`.
impl PerBackend for Box<dyn ViewStore> {
    fn postgres(db: &PgDb) -> Self {
        Box::new(crate::postgres::Views::new(db))
    }

    fn sqlite(db: &SqliteDb) -> Self {
        Box::new(crate::sqlite::Views::new(db))
    }
}
