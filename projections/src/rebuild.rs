//! Rebuilding a view from the log without downtime, on either backend.
//!
//! The projection is replayed from position 0 into shadow copies of its tables while
//! the live view keeps serving queries and following new events. When the shadow has
//! caught up, one transaction locks the live projector's checkpoint (so no batch of
//! it interleaves), applies the last events, renames the shadow tables over the live
//! ones and moves the checkpoint: queries see the old view, then the new one, never a
//! half-built one. Events an operator skipped on the live view stay skipped.
//!
//! What differs per backend:
//! - **One rebuild at a time** per view. Postgres: a session advisory lock, released
//!   when the rebuilding process's connection goes away. SQLite has no such lock: the
//!   rebuild claims the view in its checkpoint row under a fresh owner id, with a lease
//!   it renews in every batch's write transaction (which also checks the claim is still
//!   its own, so a rebuild that lost its claim writes nothing more). A crashed
//!   rebuild's lease expires after [`REBUILD_LEASE`].
//! - **The shadow tables**. Postgres: `CREATE TABLE … (LIKE … INCLUDING ALL)`. SQLite:
//!   the live table's own `CREATE` statements from `sqlite_schema`, renamed.
//! - **The swap's lock**. Postgres: the live checkpoint row `FOR UPDATE`. SQLite: the
//!   swap's write transaction holds the database's write lock.

use crate::backend::{sql, Sql, ViewConnection, WriteTransaction};
use crate::checkpoint;
use crate::projection::{ApplyError, Projection, Tables};
use crate::projector::{date_modifier, is_data_error, lock_held, ProjectorHandle};
use sqlx::{Connection, PgConnection, Row, SqliteConnection};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use store::reader::{self, LogCursor, RecordedEvent};
use store::Database;
use uuid::Uuid;

/// Events per transaction while replaying: large, as nothing waits on a rebuild's
/// individual batches.
const REBUILD_BATCH: i64 = 5000;

/// SQLite: how long a rebuild's claim lasts without being renewed. Every batch renews
/// it, and a batch takes well under a second, so only a rebuild that died (or hangs)
/// lets it expire; another rebuild may then take the view over.
pub const REBUILD_LEASE: Duration = Duration::from_secs(30);

const FAILED: Sql = sql!("rebuild_failed.sql");
const SWAPPED: Sql = sql!("rebuild_swapped.sql");
const PG_MARK: &str = include_str!("../sql/postgres/rebuild_mark.sql");
const PG_UNMARK: &str = include_str!("../sql/postgres/rebuild_unmark.sql");
const PG_PROGRESS: &str = include_str!("../sql/postgres/rebuild_progress.sql");
const SQLITE_CLAIM: &str = include_str!("../sql/sqlite/rebuild_claim.sql");
const SQLITE_RENEW: &str = include_str!("../sql/sqlite/rebuild_renew.sql");
const SQLITE_RELEASE: &str = include_str!("../sql/sqlite/rebuild_release.sql");
const SQLITE_ALIVE: &str = include_str!("../sql/sqlite/rebuild_alive.sql");
const SQLITE_CLEAR_EXPIRED: &str = include_str!("../sql/sqlite/rebuild_clear_expired.sql");
const SQLITE_SHADOW_SCHEMA: &str = include_str!("../sql/sqlite/shadow_schema.sql");

/// How far a rebuild is, for a progress bar.
#[derive(Debug, Clone)]
pub struct RebuildProgress {
    pub applied: u64,
    /// Events in the log when the rebuild started (more may arrive meanwhile).
    pub total: u64,
    pub events_per_second: f64,
    pub eta: Option<Duration>,
}

/// What a finished rebuild did.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    pub events: u64,
    pub elapsed: Duration,
    pub events_per_second: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("a rebuild of '{0}' is already running")]
    AlreadyRunning(&'static str),
    /// SQLite: this rebuild's claim expired (it was not renewed for [`REBUILD_LEASE`])
    /// and another rebuild took the view over; this one stopped without writing more.
    #[error("the rebuild of '{0}' was taken over by another one after its claim expired")]
    TakenOver(&'static str),
    #[error("event {event_id} cannot be applied: {reason}")]
    Poisoned { event_id: Uuid, reason: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Rebuilds the handle's view; `progress` is called after every batch.
#[tracing::instrument(skip_all, fields(projector = handle.name()))]
pub async fn rebuild(
    handle: &ProjectorHandle,
    mut progress: impl FnMut(&RebuildProgress) + Send,
) -> Result<RebuildReport, RebuildError> {
    let name = handle.name();
    let db = handle.database();
    let Some(claim) = Claim::take(db, name).await? else {
        return Err(RebuildError::AlreadyRunning(name));
    };
    let result = replay_and_swap(handle, &claim, &mut progress).await;
    if let Err(error) = &result {
        // Leave the live view as it was; drop what was built; say why in the status.
        let _ = abandon(handle, &claim, error).await;
    }
    let _ = claim.release(db, name).await;
    result
}

/// What keeps a second rebuild of the same view from running at the same time.
enum Claim {
    /// A session advisory lock, held as long as this dedicated connection lives.
    Postgres(PgConnection),
    /// A lease in the checkpoint row, owned under this id (`sql/sqlite/rebuild_claim.sql`).
    Sqlite { owner: String },
}

impl Claim {
    /// Claims the view for a rebuild and marks it rebuilding; `None` when another
    /// rebuild holds it.
    async fn take(db: &Database, name: &str) -> Result<Option<Claim>, sqlx::Error> {
        match db {
            Database::Postgres(pool) => {
                let mut lock = PgConnection::connect_with(&pool.connect_options()).await?;
                let locked: bool =
                    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('rebuild:' || $1))")
                        .bind(name)
                        .fetch_one(&mut lock)
                        .await?;
                if !locked {
                    let _ = lock.close().await;
                    return Ok(None);
                }
                sqlx::query(PG_MARK).bind(name).execute(pool).await?;
                Ok(Some(Claim::Postgres(lock)))
            }
            Database::Sqlite(sqlite) => {
                let owner = Uuid::new_v4().to_string();
                let mut tx = sqlite.begin_write().await?;
                let claimed = sqlx::query(SQLITE_CLAIM)
                    .bind(name)
                    .bind(&owner)
                    .bind(date_modifier(REBUILD_LEASE))
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(claimed.map(|_| Claim::Sqlite { owner }))
            }
        }
    }

    /// Inside a write transaction of the rebuild: records how far it got (`position`,
    /// when given) and, on SQLite, checks the claim is still this rebuild's and renews
    /// its lease (`TakenOver` otherwise: the transaction must not commit).
    async fn renew(
        &self,
        conn: ViewConnection<'_>,
        name: &'static str,
        position: Option<i64>,
    ) -> Result<(), RebuildError> {
        match (self, conn) {
            (Claim::Postgres(_), ViewConnection::Postgres(conn)) => {
                if let Some(position) = position {
                    sqlx::query(PG_PROGRESS)
                        .bind(name)
                        .bind(position)
                        .execute(conn)
                        .await?;
                }
                Ok(())
            }
            (Claim::Sqlite { owner }, ViewConnection::Sqlite(conn)) => {
                let renewed = sqlx::query(SQLITE_RENEW)
                    .bind(name)
                    .bind(owner)
                    .bind(position)
                    .bind(date_modifier(REBUILD_LEASE))
                    .fetch_optional(conn)
                    .await?;
                match renewed {
                    Some(_) => Ok(()),
                    None => Err(RebuildError::TakenOver(name)),
                }
            }
            _ => unreachable!("a rebuild's claim and its transaction are of one backend"),
        }
    }

    /// Ends the rebuild: clears the mark, and releases the claim.
    async fn release(self, db: &Database, name: &str) -> Result<(), sqlx::Error> {
        match (self, db) {
            (Claim::Postgres(lock), Database::Postgres(pool)) => {
                let unmarked = sqlx::query(PG_UNMARK).bind(name).execute(pool).await;
                let _ = lock.close().await;
                unmarked.map(drop)
            }
            (Claim::Sqlite { owner }, Database::Sqlite(sqlite)) => {
                let mut tx = sqlite.begin_write().await?;
                sqlx::query(SQLITE_RELEASE)
                    .bind(name)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }
            _ => unreachable!("a rebuild's claim and its database are of one backend"),
        }
    }
}

async fn replay_and_swap(
    handle: &ProjectorHandle,
    claim: &Claim,
    progress: &mut (impl FnMut(&RebuildProgress) + Send),
) -> Result<RebuildReport, RebuildError> {
    let projection = handle.projection();
    let name = handle.name();
    let db = handle.database();
    let started = Instant::now();

    let mut tx = WriteTransaction::begin(db).await?;
    claim.renew(tx.connection(), name, None).await?;
    drop_shadow_tables(tx.connection(), projection.tables()).await?;
    create_shadow_tables(tx.connection(), projection.tables()).await?;
    tx.commit().await?;

    // Events an operator skipped on the live view stay skipped in the rebuilt one.
    let skipped = checkpoint::skipped_event_ids(db, name).await?;
    let total = reader::count_after(db, LogCursor::START).await?.max(0) as u64;
    let mut cursor = LogCursor::START;
    let mut applied = 0u64;
    loop {
        let events = reader::read_after(db, cursor, REBUILD_BATCH).await?;
        let Some(last) = events.last() else { break };
        let mut tx = WriteTransaction::begin(db).await?;
        claim.renew(tx.connection(), name, Some(last.position())).await?;
        apply_to_shadow(tx.connection(), &*projection, &skipped, &events).await?;
        tx.commit().await?;
        cursor = last.cursor;
        applied += events.len() as u64;
        let rate = applied as f64 / started.elapsed().as_secs_f64().max(1e-6);
        progress(&RebuildProgress {
            applied,
            total: total.max(applied),
            events_per_second: rate,
            eta: (rate > 0.0).then(|| Duration::from_secs_f64(total.saturating_sub(applied) as f64 / rate)),
        });
    }

    // The swap: the live projector waits on its checkpoint meanwhile (Postgres: the row
    // lock taken here; SQLite: the write lock this transaction holds), then finds it
    // moved and reloads it.
    let mut tx = WriteTransaction::begin(db).await?;
    checkpoint::locked_cursor(tx.connection(), name).await?;
    claim.renew(tx.connection(), name, None).await?;
    loop {
        let events = tx.connection().read_log(cursor, REBUILD_BATCH).await?;
        let Some(last) = events.last() else { break };
        apply_to_shadow(tx.connection(), &*projection, &skipped, &events).await?;
        cursor = last.cursor;
        applied += events.len() as u64;
    }
    swap_tables(tx.connection(), projection.tables()).await?;
    match tx.connection() {
        ViewConnection::Postgres(conn) => {
            sqlx::query(SWAPPED.postgres)
                .bind(name)
                .bind(cursor.transaction_id.to_string())
                .bind(cursor.position)
                .bind(applied as i64)
                .execute(conn)
                .await?;
        }
        ViewConnection::Sqlite(conn) => {
            sqlx::query(SWAPPED.sqlite)
                .bind(name)
                .bind(cursor.position)
                .bind(applied as i64)
                .execute(conn)
                .await?;
        }
    }
    tx.commit().await?;

    let elapsed = started.elapsed();
    let report = RebuildReport {
        events: applied,
        elapsed,
        events_per_second: applied as f64 / elapsed.as_secs_f64().max(1e-6),
    };
    tracing::info!(
        events = report.events,
        elapsed_ms = elapsed.as_millis() as u64,
        "rebuilt and swapped in"
    );
    Ok(report)
}

/// After a failed rebuild: drops the shadow tables and records why in the status.
/// Not when another rebuild took the view over: the shadow tables are its own now.
async fn abandon(handle: &ProjectorHandle, claim: &Claim, error: &RebuildError) -> Result<(), RebuildError> {
    let name = handle.name();
    let mut tx = WriteTransaction::begin(handle.database()).await?;
    claim.renew(tx.connection(), name, None).await?;
    drop_shadow_tables(tx.connection(), handle.projection().tables()).await?;
    let reason = format!("rebuild failed: {error}");
    match tx.connection() {
        ViewConnection::Postgres(conn) => {
            sqlx::query(FAILED.postgres)
                .bind(name)
                .bind(reason)
                .execute(conn)
                .await?;
        }
        ViewConnection::Sqlite(conn) => {
            sqlx::query(FAILED.sqlite)
                .bind(name)
                .bind(reason)
                .execute(conn)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Applies a batch to the shadow tables, leaving out the events an operator skipped
/// on the live view. When the database refuses the batch's data, finds the event
/// behind it (one savepoint per event) so the error names it.
async fn apply_to_shadow(
    mut conn: ViewConnection<'_>,
    projection: &dyn Projection,
    skipped: &HashSet<Uuid>,
    events: &[RecordedEvent],
) -> Result<(), RebuildError> {
    let kept: Vec<RecordedEvent> = events
        .iter()
        .filter(|e| !skipped.contains(&e.event_id))
        .cloned()
        .collect();
    let poisoned = |index: usize, reason: String| RebuildError::Poisoned {
        event_id: kept[index].event_id,
        reason,
    };
    let mut attempt = conn.savepoint().await?;
    match projection
        .apply(attempt.connection(), Tables::Shadow, &kept)
        .await
    {
        Ok(()) => Ok(attempt.commit().await?),
        Err(ApplyError::Poison { index, reason }) => Err(poisoned(index, reason)),
        Err(ApplyError::Database(error)) if is_data_error(&error) => {
            attempt.rollback().await?;
            for (index, event) in kept.iter().enumerate() {
                let mut one = conn.savepoint().await?;
                match projection
                    .apply(one.connection(), Tables::Shadow, std::slice::from_ref(event))
                    .await
                {
                    Ok(()) => one.commit().await?,
                    Err(ApplyError::Poison { reason, .. }) => return Err(poisoned(index, reason)),
                    Err(ApplyError::Database(error)) => {
                        return Err(poisoned(
                            index,
                            format!("the database refused its effect: {error}"),
                        ))
                    }
                }
            }
            Err(RebuildError::Database(error))
        }
        Err(ApplyError::Database(error)) => Err(RebuildError::Database(error)),
    }
}

async fn drop_shadow_tables(mut conn: ViewConnection<'_>, tables: &[&str]) -> Result<(), sqlx::Error> {
    for table in tables {
        let statement = format!("DROP TABLE IF EXISTS {}", Tables::Shadow.name(table));
        match &mut conn {
            ViewConnection::Postgres(conn) => {
                sqlx::query(&statement).execute(&mut **conn).await?;
            }
            ViewConnection::Sqlite(conn) => {
                sqlx::query(&statement).execute(&mut **conn).await?;
            }
        }
    }
    Ok(())
}

/// Creates empty shadow copies of `tables`, with the same columns, constraints and
/// indexes.
async fn create_shadow_tables(conn: ViewConnection<'_>, tables: &[&str]) -> Result<(), sqlx::Error> {
    match conn {
        ViewConnection::Postgres(conn) => {
            for table in tables {
                let shadow = Tables::Shadow.name(table);
                sqlx::query(&format!("CREATE TABLE {shadow} (LIKE {table} INCLUDING ALL)"))
                    .execute(&mut *conn)
                    .await?;
            }
        }
        ViewConnection::Sqlite(conn) => {
            for table in tables {
                for statement in sqlite_shadow_schema(conn, table).await? {
                    sqlx::query(&statement).execute(&mut *conn).await?;
                }
            }
        }
    }
    Ok(())
}

/// The statements that create the shadow copy of SQLite table `table`: its own
/// `CREATE TABLE` and `CREATE INDEX` statements (so the copy cannot drift from the
/// migrations), naming the shadow table, and the indexes by [`shadow_index_name`].
async fn sqlite_shadow_schema(conn: &mut SqliteConnection, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let shadow = Tables::Shadow.name(table);
    let rows = sqlx::query(SQLITE_SHADOW_SCHEMA)
        .bind(table)
        .fetch_all(&mut *conn)
        .await?;
    let mut statements = Vec::new();
    for row in rows {
        let kind: String = row.try_get("type")?;
        let name: String = row.try_get("name")?;
        let sql: String = row.try_get("sql")?;
        // Everything from the first parenthesis on is the body (columns and
        // constraints; indexed columns and any WHERE): the head names the object and
        // its table, as written or, after a rename, quoted.
        let Some(body_at) = sql.find('(') else {
            return Err(sqlx::Error::Protocol(format!(
                "unexpected schema of {table}: {sql}"
            )));
        };
        let (head, body) = sql.split_at(body_at);
        statements.push(match kind.as_str() {
            "table" => format!("CREATE TABLE {shadow} {body}"),
            _ => {
                let unique = if head.to_ascii_uppercase().starts_with("CREATE UNIQUE") {
                    "UNIQUE "
                } else {
                    ""
                };
                format!(
                    "CREATE {unique}INDEX {} ON {shadow} {body}",
                    shadow_index_name(&name)
                )
            }
        });
    }
    if statements.is_empty() {
        return Err(sqlx::Error::Protocol(format!("no table named {table}")));
    }
    Ok(statements)
}

/// The name of a live index's copy on a shadow table. SQLite index names are global
/// and a renamed table keeps its indexes' names, so after a swap the live indexes
/// bear the shadow names: the names alternate between `NAME` and `NAME__rebuild`
/// from one rebuild to the next (instead of growing a suffix per rebuild).
fn shadow_index_name(live: &str) -> String {
    const SUFFIX: &str = "__rebuild";
    match live.strip_suffix(SUFFIX) {
        Some(base) => base.to_owned(),
        None => format!("{live}{SUFFIX}"),
    }
}

/// Replaces the live tables by their shadow copies, inside the swap's transaction.
async fn swap_tables(conn: ViewConnection<'_>, tables: &[&str]) -> Result<(), sqlx::Error> {
    match conn {
        ViewConnection::Postgres(conn) => {
            for table in tables {
                let shadow = Tables::Shadow.name(table);
                for statement in [
                    format!("ALTER TABLE {table} RENAME TO {table}__old"),
                    format!("ALTER TABLE {shadow} RENAME TO {table}"),
                    format!("DROP TABLE {table}__old"),
                ] {
                    sqlx::query(&statement).execute(&mut *conn).await?;
                }
            }
        }
        ViewConnection::Sqlite(conn) => {
            for table in tables {
                let shadow = Tables::Shadow.name(table);
                for statement in [
                    format!("DROP TABLE {table}"),
                    format!("ALTER TABLE {shadow} RENAME TO {table}"),
                ] {
                    sqlx::query(&statement).execute(&mut *conn).await?;
                }
            }
        }
    }
    Ok(())
}

/// Whether a rebuild of projector `name` runs (in any process): Postgres, whether its
/// lock is held; SQLite, whether its claim's lease is unexpired.
pub(crate) async fn is_running(db: &Database, name: &str) -> Result<bool, sqlx::Error> {
    match db {
        Database::Postgres(pool) => lock_held(pool, &format!("rebuild:{name}")).await,
        Database::Sqlite(sqlite) => Ok(sqlx::query_scalar::<_, bool>(SQLITE_ALIVE)
            .bind(name)
            .fetch_optional(sqlite.pool())
            .await?
            .unwrap_or(false)),
    }
}

/// Clears the "rebuilding" mark a crashed rebuild left behind: called when a
/// projector takes the lead; a running rebuild holds its lock (Postgres) or an
/// unexpired lease (SQLite), a crashed one does not.
pub(crate) async fn clear_stale_rebuild(db: &Database, name: &str) -> Result<(), sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            if !lock_held(pool, &format!("rebuild:{name}")).await? {
                sqlx::query(PG_UNMARK).bind(name).execute(pool).await?;
            }
        }
        Database::Sqlite(sqlite) => {
            let mut tx = sqlite.begin_write().await?;
            sqlx::query(SQLITE_CLEAR_EXPIRED)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projector::ProjectorState;
    use crate::{Projections, ProjectorSettings};
    use store::reader::LogWaker;
    use test_support::TestDb;

    #[test]
    fn shadow_index_names_alternate_instead_of_growing() {
        assert_eq!(
            shadow_index_name("campaign_view_brand_idx"),
            "campaign_view_brand_idx__rebuild"
        );
        assert_eq!(
            shadow_index_name("campaign_view_brand_idx__rebuild"),
            "campaign_view_brand_idx"
        );
    }

    fn handles(db: &Database) -> Projections {
        Projections::new(
            db,
            &LogWaker::never(),
            &ProjectorSettings::default(),
            aggregates::upcasters::all,
        )
        .0
    }

    #[tokio::test]
    async fn one_rebuild_at_a_time_on_postgres() {
        one_rebuild_at_a_time(TestDb::postgres().await).await
    }

    #[tokio::test]
    async fn one_rebuild_at_a_time_on_sqlite() {
        one_rebuild_at_a_time(TestDb::sqlite().await).await
    }

    async fn one_rebuild_at_a_time(test: TestDb) {
        let db = &test.db;
        let projections = handles(db);
        let handle = projections.get("campaigns").unwrap();
        let claim = Claim::take(db, "campaigns")
            .await
            .unwrap()
            .expect("no rebuild runs");
        assert!(is_running(db, "campaigns").await.unwrap());
        assert!(Claim::take(db, "campaigns").await.unwrap().is_none());
        assert!(matches!(
            rebuild(handle, |_| {}).await,
            Err(RebuildError::AlreadyRunning("campaigns"))
        ));
        assert_eq!(handle.status().await.unwrap().state, ProjectorState::Rebuilding);
        // The other view is another matter.
        let partners = Claim::take(db, "partners").await.unwrap().expect("its own claim");
        partners.release(db, "partners").await.unwrap();

        claim.release(db, "campaigns").await.unwrap();
        assert!(!is_running(db, "campaigns").await.unwrap());
        let status = handle.status().await.unwrap();
        assert_eq!(status.state, ProjectorState::Stopped);
        assert!(status.rebuild_position.is_none());
        let again = Claim::take(db, "campaigns").await.unwrap().expect("released");
        again.release(db, "campaigns").await.unwrap();
        rebuild(handle, |_| {}).await.unwrap();
    }

    /// Makes the SQLite rebuild claims look as a crashed rebuild's would.
    async fn expire_claims(db: &Database) {
        let mut tx = WriteTransaction::begin(db).await.unwrap();
        let ViewConnection::Sqlite(conn) = tx.connection() else {
            unreachable!()
        };
        sqlx::query("UPDATE projector_checkpoints SET rebuild_until = '2000-01-01T00:00:00.000Z'")
            .execute(conn)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    async fn shadow_tables(db: &Database) -> i64 {
        let sqlite = db.as_sqlite().unwrap();
        sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name LIKE '%rebuild'")
            .fetch_one(sqlite.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn on_sqlite_an_expired_claim_is_taken_over_and_its_rebuild_writes_nothing_more() {
        let test = TestDb::sqlite().await;
        let db = &test.db;
        let projections = handles(db);
        let handle = projections.get("campaigns").unwrap();
        let first = Claim::take(db, "campaigns").await.unwrap().unwrap();
        expire_claims(db).await;
        assert!(!is_running(db, "campaigns").await.unwrap());
        assert_ne!(handle.status().await.unwrap().state, ProjectorState::Rebuilding);

        let second = Claim::take(db, "campaigns")
            .await
            .unwrap()
            .expect("an expired claim can be taken over");
        let mut tx = WriteTransaction::begin(db).await.unwrap();
        assert!(matches!(
            first.renew(tx.connection(), "campaigns", Some(5)).await,
            Err(RebuildError::TakenOver("campaigns"))
        ));
        drop(tx);

        let mut tx = WriteTransaction::begin(db).await.unwrap();
        second.renew(tx.connection(), "campaigns", Some(1)).await.unwrap();
        create_shadow_tables(tx.connection(), &["campaign_view", "partner_campaigns"])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(shadow_tables(db).await, 2);
        assert_eq!(handle.status().await.unwrap().rebuild_position, Some(1));

        // The first rebuild gives up: it leaves the second one's tables and claim alone.
        let taken_over = RebuildError::TakenOver("campaigns");
        assert!(matches!(
            abandon(handle, &first, &taken_over).await,
            Err(RebuildError::TakenOver(_))
        ));
        first.release(db, "campaigns").await.unwrap();
        assert_eq!(shadow_tables(db).await, 2);
        assert!(is_running(db, "campaigns").await.unwrap());
        clear_stale_rebuild(db, "campaigns").await.unwrap();
        assert!(
            checkpoint::load(db, "campaigns").await.unwrap().rebuilding,
            "a live claim stays"
        );
        assert_eq!(handle.status().await.unwrap().state, ProjectorState::Rebuilding);

        // The second one fails: its tables go, and the status says why.
        let failed = RebuildError::Poisoned {
            event_id: Uuid::nil(),
            reason: "bad".into(),
        };
        abandon(handle, &second, &failed).await.unwrap();
        assert_eq!(shadow_tables(db).await, 0);
        let status = handle.status().await.unwrap();
        assert!(status.last_error.unwrap().contains("rebuild failed"));

        // Had it crashed instead, its mark would go once its lease expired.
        expire_claims(db).await;
        clear_stale_rebuild(db, "campaigns").await.unwrap();
        assert!(!checkpoint::load(db, "campaigns").await.unwrap().rebuilding);
        assert!(Claim::take(db, "campaigns").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn sqlite_shadow_tables_copy_the_live_schema() {
        let test = TestDb::sqlite().await;
        let mut conn = test.db.as_sqlite().unwrap().pool().acquire().await.unwrap();
        let statements = sqlite_shadow_schema(&mut conn, "campaign_view").await.unwrap();
        assert_eq!(statements.len(), 3, "{statements:?}");
        assert!(statements[0].starts_with("CREATE TABLE campaign_view__rebuild ("));
        assert!(statements[0].contains("budget        text    NOT NULL CHECK (json_valid(budget))"));
        assert!(statements[0].trim_end().ends_with("STRICT"));
        assert_eq!(
            statements[1],
            "CREATE INDEX campaign_view_brand_idx__rebuild ON campaign_view__rebuild (brand_id, id)"
        );
        assert!(matches!(
            sqlite_shadow_schema(&mut conn, "no_such_view").await,
            Err(sqlx::Error::Protocol(_))
        ));
    }
}
