//! Rebuilding a view from the log without downtime.
//!
//! The projection is replayed from position 0 into shadow copies of its tables while
//! the live view keeps serving queries and following new events. When the shadow has
//! caught up, one transaction locks the live projector's checkpoint (so no batch of
//! it interleaves), applies the last events, renames the shadow tables over the live
//! ones and moves the checkpoint: queries see the old view, then the new one, never a
//! half-built one.

use crate::projection::{ApplyError, Tables};
use crate::projector::is_data_error;
use crate::projector::ProjectorHandle;
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use store::reader::{self, LogCursor, RecordedEvent};
use uuid::Uuid;

/// Events per transaction while replaying: large, as nothing waits on a rebuild's
/// individual batches.
const REBUILD_BATCH: i64 = 5000;

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
    let pool = handle.pool();
    // One rebuild per projector at a time, across processes. The lock lives as long
    // as this connection.
    let mut lock = PgConnection::connect_with(handle.connect_options()).await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('rebuild:' || $1))")
        .bind(name)
        .fetch_one(&mut lock)
        .await?;
    if !locked {
        return Err(RebuildError::AlreadyRunning(name));
    }
    sqlx::query(
        "INSERT INTO projector_checkpoints (name, rebuild_started_at, rebuild_position) VALUES ($1, now(), 0)
         ON CONFLICT (name) DO UPDATE SET rebuild_started_at = now(), rebuild_position = 0",
    )
    .bind(name)
    .execute(pool)
    .await?;

    let result = replay_and_swap(handle, &mut progress).await;
    if let Err(error) = &result {
        // Leave the live view as it was; drop what was built; say why in the status.
        let _ = drop_shadow_tables(handle).await;
        let _ = sqlx::query("UPDATE projector_checkpoints SET last_error = $2 WHERE name = $1")
            .bind(name)
            .bind(format!("rebuild failed: {error}"))
            .execute(pool)
            .await;
    }
    let _ = sqlx::query(
        "UPDATE projector_checkpoints SET rebuild_started_at = NULL, rebuild_position = NULL WHERE name = $1",
    )
    .bind(name)
    .execute(pool)
    .await;
    let _ = lock.close().await;
    result
}

async fn replay_and_swap(
    handle: &ProjectorHandle,
    progress: &mut (impl FnMut(&RebuildProgress) + Send),
) -> Result<RebuildReport, RebuildError> {
    let projection = handle.projection();
    let pool = handle.pool();
    let started = Instant::now();

    drop_shadow_tables(handle).await?;
    for table in projection.tables() {
        let shadow = Tables::Shadow.name(table);
        sqlx::query(&format!("CREATE TABLE {shadow} (LIKE {table} INCLUDING ALL)"))
            .execute(pool)
            .await?;
    }

    // Events an operator skipped on the live view stay skipped in the rebuilt one.
    let skipped: HashSet<Uuid> = sqlx::query_scalar::<_, Vec<Uuid>>(
        "SELECT skipped_event_ids FROM projector_checkpoints WHERE name = $1",
    )
    .bind(handle.name())
    .fetch_optional(pool)
    .await?
    .unwrap_or_default()
    .into_iter()
    .collect();
    let total = reader::count_after(pool, LogCursor::START).await?.max(0) as u64;
    let mut cursor = LogCursor::START;
    let mut applied = 0u64;
    loop {
        let events = reader::read_after(pool, cursor, REBUILD_BATCH).await?;
        let Some(last) = events.last() else { break };
        let mut tx = pool.begin().await?;
        apply_to_shadow(&mut tx, handle, &skipped, &events).await?;
        sqlx::query("UPDATE projector_checkpoints SET rebuild_position = $2 WHERE name = $1")
            .bind(handle.name())
            .bind(last.position())
            .execute(&mut *tx)
            .await?;
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

    // The swap: the live projector waits on its checkpoint row meanwhile.
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM projector_checkpoints WHERE name = $1 FOR UPDATE")
        .bind(handle.name())
        .execute(&mut *tx)
        .await?;
    loop {
        let events = reader::read_after(&mut *tx, cursor, REBUILD_BATCH).await?;
        let Some(last) = events.last() else { break };
        apply_to_shadow(&mut tx, handle, &skipped, &events).await?;
        cursor = last.cursor;
        applied += events.len() as u64;
    }
    for table in projection.tables() {
        let shadow = Tables::Shadow.name(table);
        sqlx::query(&format!("ALTER TABLE {table} RENAME TO {table}__old"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("ALTER TABLE {shadow} RENAME TO {table}"))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("DROP TABLE {table}__old"))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE projector_checkpoints
         SET transaction_id = $2::text::xid8, position = $3, events_applied = $4, updated_at = now(),
             failed_event_id = NULL, failed_position = NULL, last_error = NULL, failed_at = NULL
         WHERE name = $1",
    )
    .bind(handle.name())
    .bind(cursor.transaction_id.to_string())
    .bind(cursor.position)
    .bind(applied as i64)
    .execute(&mut *tx)
    .await?;
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

/// Applies a batch to the shadow tables, leaving out the events an operator skipped
/// on the live view. When the database refuses the batch's data, finds the event
/// behind it (one savepoint per event) so the error names it.
async fn apply_to_shadow(
    conn: &mut PgConnection,
    handle: &ProjectorHandle,
    skipped: &HashSet<Uuid>,
    events: &[RecordedEvent],
) -> Result<(), RebuildError> {
    let kept: Vec<RecordedEvent> = events
        .iter()
        .filter(|e| !skipped.contains(&e.event_id))
        .cloned()
        .collect();
    let projection = handle.projection();
    let poisoned = |index: usize, reason: String| RebuildError::Poisoned {
        event_id: kept[index].event_id,
        reason,
    };
    let mut attempt = Connection::begin(&mut *conn).await?;
    match projection.apply(&mut attempt, Tables::Shadow, &kept).await {
        Ok(()) => Ok(attempt.commit().await?),
        Err(ApplyError::Poison { index, reason }) => Err(poisoned(index, reason)),
        Err(ApplyError::Database(error)) if is_data_error(&error) => {
            attempt.rollback().await?;
            for (index, event) in kept.iter().enumerate() {
                let mut one = Connection::begin(&mut *conn).await?;
                match projection
                    .apply(&mut one, Tables::Shadow, std::slice::from_ref(event))
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

async fn drop_shadow_tables(handle: &ProjectorHandle) -> Result<(), sqlx::Error> {
    for table in handle.projection().tables() {
        sqlx::query(&format!("DROP TABLE IF EXISTS {}", Tables::Shadow.name(table)))
            .execute(handle.pool())
            .await?;
    }
    Ok(())
}

/// Clears the "rebuilding" mark a crashed rebuild left behind: called when a
/// projector takes the lead; a running rebuild holds its lock, a crashed one does not.
pub(crate) async fn clear_stale_rebuild(pool: &PgPool, name: &str) -> Result<(), sqlx::Error> {
    if !crate::projector::lock_held(pool, &format!("rebuild:{name}")).await? {
        sqlx::query("UPDATE projector_checkpoints SET rebuild_started_at = NULL, rebuild_position = NULL WHERE name = $1")
            .bind(name)
            .execute(pool)
            .await?;
    }
    Ok(())
}
