//! Rebuilding a view from the log without downtime.
//!
//! The projection is replayed from position 0 into shadow copies of its tables while
//! the live view keeps serving queries and following new events. When the shadow has
//! caught up, one transaction locks the live projector's checkpoint (so no batch of
//! it interleaves), applies the last events, renames the shadow tables over the live
//! ones and moves the checkpoint: queries see the old view, then the new one, never a
//! half-built one. Events an operator skipped on the live view stay skipped.
//!
//! One rebuild at a time per view: it holds the [`Lease`] `rebuild:<name>`, renewed
//! before every batch; a rebuild whose lease was taken over (it stopped renewing for
//! [`REBUILD_LEASE`], SQLite) stops without writing more. A rebuild that crashed
//! leaves its "rebuilding" mark, which the projector clears when it takes the lead
//! and no rebuild holds the lease.

use crate::projection::{ApplyError, Projection, Tables};
use crate::projector::ProjectorHandle;
use crate::storage::{ViewStore, ViewTransaction};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use store::{Database, DbFault, Lease, LeaseError, LogCursor, RecordedEvent};
use uuid::Uuid;

/// Events per transaction while replaying: large, as nothing waits on a rebuild's
/// individual batches.
const REBUILD_BATCH: i64 = 5000;

/// How long a rebuild's lease lasts without being renewed (SQLite). Every batch renews
/// it, and a batch takes well under a second, so only a rebuild that died (or hangs)
/// lets it expire; another rebuild may then take the view over.
pub const REBUILD_LEASE: Duration = Duration::from_secs(30);

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
    let Some(mut claim) = Claim::take(handle.database(), handle.views(), name).await? else {
        return Err(RebuildError::AlreadyRunning(name));
    };
    let result = replay_and_swap(handle, &mut claim, &mut progress).await;
    if let Err(error) = &result {
        // Leave the live view as it was; drop what was built; say why in the status.
        let _ = abandon(handle, &claim, error).await;
    }
    claim.release(handle.views(), name).await;
    result
}

/// What keeps a second rebuild of the same view from running at the same time: the
/// lease `rebuild:<name>`, and the ownership of the view's rebuild in its checkpoint
/// row, which every write transaction of the rebuild checks under the row's lock (a
/// lease alone is checked before a transaction, not in it: a rebuild that stalled past
/// its lease's expiry between the two would write into its successor's tables).
struct Claim {
    lease: Lease,
    /// The lease's holder id, also the rebuild's owner in the checkpoint row.
    owner: String,
}

impl Claim {
    /// Claims the view for a rebuild and marks it rebuilding; `None` when another
    /// rebuild holds it.
    async fn take(db: &Database, views: &dyn ViewStore, name: &str) -> Result<Option<Claim>, sqlx::Error> {
        let owner = Uuid::new_v4().to_string();
        let Some(lease) = Lease::try_acquire(db, &Lease::key("rebuild", name), &owner, REBUILD_LEASE).await?
        else {
            return Ok(None);
        };
        views.mark_rebuilding(name, &owner).await?;
        Ok(Some(Claim { lease, owner }))
    }

    /// Before each write transaction: extends the lease (`TakenOver` when it is not
    /// this rebuild's any more).
    async fn renew(&mut self, name: &'static str) -> Result<(), RebuildError> {
        match self.lease.renew(REBUILD_LEASE / 3).await {
            Ok(()) => Ok(()),
            Err(LeaseError::Lost(_)) => Err(RebuildError::TakenOver(name)),
            Err(LeaseError::Database(error)) => Err(RebuildError::Database(error)),
            Err(LeaseError::Timeout(_)) => Err(RebuildError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    /// First thing in each write transaction of the rebuild: checks that it still owns
    /// the view's rebuild, and records how far it got (`TakenOver` otherwise: the
    /// transaction must not commit).
    async fn fence(
        &self,
        tx: &mut dyn ViewTransaction,
        name: &'static str,
        position: Option<i64>,
    ) -> Result<(), RebuildError> {
        match tx.rebuild_progress(name, &self.owner, position).await? {
            true => Ok(()),
            false => Err(RebuildError::TakenOver(name)),
        }
    }

    /// Ends the rebuild: clears its mark (not another rebuild's, which took the view
    /// over), and gives the lease up.
    async fn release(self, views: &dyn ViewStore, name: &'static str) {
        if let Err(error) = views.unmark_rebuilding(name, Some(&self.owner)).await {
            tracing::warn!(%error, "the rebuilding mark stays until the projector clears it");
        }
        self.lease.release().await;
    }
}

async fn replay_and_swap(
    handle: &ProjectorHandle,
    claim: &mut Claim,
    progress: &mut (impl FnMut(&RebuildProgress) + Send),
) -> Result<RebuildReport, RebuildError> {
    let projection = handle.projection();
    let name = handle.name();
    let db = handle.database();
    let views = handle.views();
    let started = Instant::now();

    claim.renew(name).await?;
    let mut tx = views.begin().await?;
    claim.fence(&mut *tx, name, None).await?;
    tx.drop_shadow_tables(projection.tables()).await?;
    tx.create_shadow_tables(projection.tables()).await?;
    tx.commit().await?;

    // Events an operator skipped on the live view stay skipped in the rebuilt one.
    let skipped = views.skipped_event_ids(name).await?;
    let total = db.count_after(LogCursor::START).await?.max(0) as u64;
    let mut cursor = LogCursor::START;
    let mut applied = 0u64;
    loop {
        let events = db.read_after(cursor, REBUILD_BATCH).await?;
        let Some(last) = events.last() else { break };
        claim.renew(name).await?;
        let mut tx = views.begin().await?;
        claim.fence(&mut *tx, name, Some(last.position())).await?;
        apply_to_shadow(&mut *tx, &*projection, &skipped, &events).await?;
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
    claim.renew(name).await?;
    let mut tx = views.begin().await?;
    tx.locked_cursor(name).await?;
    claim.fence(&mut *tx, name, None).await?;
    loop {
        let events = tx.read_log(cursor, REBUILD_BATCH).await?;
        let Some(last) = events.last() else { break };
        apply_to_shadow(&mut *tx, &*projection, &skipped, &events).await?;
        cursor = last.cursor;
        applied += events.len() as u64;
    }
    tx.swap_tables(projection.tables()).await?;
    tx.rebuild_swapped(name, cursor, applied as i64).await?;
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
    let mut tx = handle.views().begin().await?;
    claim.fence(&mut *tx, name, None).await?;
    tx.drop_shadow_tables(handle.projection().tables()).await?;
    tx.rebuild_failed(name, &format!("rebuild failed: {error}"))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Applies a batch to the shadow tables, leaving out the events an operator skipped
/// on the live view. When the database refuses the batch's data, finds the event
/// behind it (one savepoint per event) so the error names it.
async fn apply_to_shadow(
    tx: &mut dyn ViewTransaction,
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
    tx.savepoint().await?;
    match projection.apply(tx, Tables::Shadow, &kept).await {
        Ok(()) => Ok(tx.release_savepoint().await?),
        Err(ApplyError::Poison { index, reason }) => Err(poisoned(index, reason)),
        Err(ApplyError::Database(error)) if DbFault::of(&error).is_the_datas() => {
            tx.rollback_to_savepoint().await?;
            tx.release_savepoint().await?;
            for (index, event) in kept.iter().enumerate() {
                tx.savepoint().await?;
                match projection
                    .apply(tx, Tables::Shadow, std::slice::from_ref(event))
                    .await
                {
                    Ok(()) => tx.release_savepoint().await?,
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

/// Whether a rebuild of projector `name` runs (in any process): whether its lease is held.
pub(crate) async fn is_running(db: &Database, name: &str) -> Result<bool, sqlx::Error> {
    Lease::is_held(db, &Lease::key("rebuild", name)).await
}

/// Clears the "rebuilding" mark a crashed rebuild left behind: called when a
/// projector takes the lead; a running rebuild holds its lease, a crashed one does not
/// (on Postgres it went with its connection; on SQLite it expired).
pub(crate) async fn clear_stale_rebuild(
    db: &Database,
    views: &dyn ViewStore,
    name: &str,
) -> Result<(), sqlx::Error> {
    if !is_running(db, name).await? {
        views.unmark_rebuilding(name, None).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projector::ProjectorState;
    use crate::{Projections, ProjectorSettings};
    use store::LogWaker;
    use test_support::TestDb;

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
        let views = handle.views();
        let claim = Claim::take(db, views, "campaigns")
            .await
            .unwrap()
            .expect("no rebuild runs");
        assert!(is_running(db, "campaigns").await.unwrap());
        assert!(Claim::take(db, views, "campaigns").await.unwrap().is_none());
        assert!(matches!(
            rebuild(handle, |_| {}).await,
            Err(RebuildError::AlreadyRunning("campaigns"))
        ));
        assert_eq!(handle.status().await.unwrap().state, ProjectorState::Rebuilding);
        // The other view is another matter.
        let partners = Claim::take(db, views, "partners")
            .await
            .unwrap()
            .expect("its own claim");
        partners.release(views, "partners").await;

        claim.release(views, "campaigns").await;
        assert!(!is_running(db, "campaigns").await.unwrap());
        let status = handle.status().await.unwrap();
        assert_eq!(status.state, ProjectorState::Stopped);
        assert!(status.rebuild_position.is_none());
        let again = Claim::take(db, views, "campaigns")
            .await
            .unwrap()
            .expect("released");
        again.release(views, "campaigns").await;
        rebuild(handle, |_| {}).await.unwrap();
    }

    /// Makes the SQLite leases look as a crashed rebuild's would.
    async fn expire_leases(db: &Database) {
        test_support::execute(db, "UPDATE leases SET expires_at = 0", &[]).await;
    }

    async fn shadow_tables(db: &Database) -> i64 {
        test_support::scalar(
            db,
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name LIKE '%rebuild'",
            &[],
        )
        .await
    }

    #[tokio::test]
    async fn on_sqlite_an_expired_claim_is_taken_over_and_its_rebuild_writes_nothing_more() {
        let test = TestDb::sqlite().await;
        let db = &test.db;
        let projections = handles(db);
        let handle = projections.get("campaigns").unwrap();
        let views = handle.views();
        let mut first = Claim::take(db, views, "campaigns").await.unwrap().unwrap();
        expire_leases(db).await;
        assert!(!is_running(db, "campaigns").await.unwrap());
        assert_ne!(handle.status().await.unwrap().state, ProjectorState::Rebuilding);

        let mut second = Claim::take(db, views, "campaigns")
            .await
            .unwrap()
            .expect("an expired claim can be taken over");
        assert!(matches!(
            first.renew("campaigns").await,
            Err(RebuildError::TakenOver("campaigns"))
        ));
        // Even had it not renewed first, its transactions are fenced.
        let mut tx = views.begin().await.unwrap();
        assert!(matches!(
            first.fence(&mut *tx, "campaigns", Some(5)).await,
            Err(RebuildError::TakenOver("campaigns"))
        ));
        drop(tx);

        second.renew("campaigns").await.unwrap();
        let mut tx = views.begin().await.unwrap();
        second.fence(&mut *tx, "campaigns", Some(1)).await.unwrap();
        tx.create_shadow_tables(&["campaign_view", "partner_campaigns"])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(shadow_tables(db).await, 2);
        assert_eq!(handle.status().await.unwrap().rebuild_position, Some(1));

        // The first rebuild gives up: it leaves the second one's tables and mark alone.
        let taken_over = RebuildError::TakenOver("campaigns");
        assert!(matches!(
            abandon(handle, &first, &taken_over).await,
            Err(RebuildError::TakenOver(_))
        ));
        first.release(views, "campaigns").await;
        assert_eq!(shadow_tables(db).await, 2);
        assert!(is_running(db, "campaigns").await.unwrap());
        clear_stale_rebuild(db, views, "campaigns").await.unwrap();
        assert!(
            views.checkpoint("campaigns").await.unwrap().rebuilding,
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
        expire_leases(db).await;
        clear_stale_rebuild(db, views, "campaigns").await.unwrap();
        assert!(!views.checkpoint("campaigns").await.unwrap().rebuilding);
        assert!(Claim::take(db, views, "campaigns").await.unwrap().is_some());
    }
}
