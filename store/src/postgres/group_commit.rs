//! Group commit of appends on Postgres: concurrent commands' appends are written in
//! one statement when they queue up, so a burst of N commands costs one round trip
//! and one WAL flush instead of N. This is what lets the log keep up with many
//! clients on few cores (EventStoreDB and Marten batch their writes the same way).
//!
//! - A command alone is appended at once (`append_events.sql`): no added latency.
//! - Appends that arrive while a batch is being written wait for the next one; up to
//!   [`WRITERS`] batches are written at a time, each of at most [`MAX_BATCH`] commands.
//! - All or nothing: a batch statement that fails for any reason (a stream conflict,
//!   a taken idempotency key, a bad value) is retried one command at a time, so every
//!   command gets exactly the answer it would have had alone.
//! - Readers are told after the batch committed ([`AppendNotifier`]), not from inside
//!   it: a NOTIFY inside the transaction would serialise the commits' WAL flushes.

use super::notifier::AppendNotifier;
use crate::log::{Appended, CommitError};
use crate::storage::Append;
use observability::metrics::GROUP_COMMIT_BATCH;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};
use uuid::Uuid;

/// Batches written at the same time: enough to keep the pool and the disk busy while
/// a batch's answer is on its way back.
const WRITERS: usize = 4;
/// Commands per batch at most (bounds the statement's size).
const MAX_BATCH: usize = 128;

/// An append waiting for its batch, and where its answer goes.
#[derive(Debug)]
struct PendingAppend {
    request: Append,
    reply: oneshot::Sender<Result<Vec<Appended>, CommitError>>,
}

/// The queue appends wait in, and the writers that drain it (spawned on first use,
/// on the runtime of that use; they stop when every handle is dropped).
#[derive(Debug)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<PendingAppend>,
}

impl GroupCommit {
    pub fn start(pool: PgPool) -> Self {
        let (queue, receiver) = mpsc::channel(MAX_BATCH * WRITERS);
        let receiver = Arc::new(Mutex::new(receiver));
        let notifier = Arc::new(AppendNotifier::start(pool.clone()));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(pool.clone(), receiver.clone(), notifier.clone()));
        }
        Self { queue }
    }

    pub async fn append(&self, request: Append) -> Result<Vec<Appended>, CommitError> {
        let (reply, answer) = oneshot::channel();
        if self.queue.send(PendingAppend { request, reply }).await.is_err() {
            return Err(CommitError::Database(sqlx::Error::PoolClosed));
        }
        // A writer that died (its runtime shut down) drops the reply: report it as the
        // database being gone, which the API answers with a 503.
        answer
            .await
            .unwrap_or(Err(CommitError::Database(sqlx::Error::PoolClosed)))
    }
}

/// One writer: takes what is queued (at least one append), writes it, answers.
async fn write_batches(
    pool: PgPool,
    queue: Arc<Mutex<mpsc::Receiver<PendingAppend>>>,
    notifier: Arc<AppendNotifier>,
) {
    loop {
        let batch = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        write(&pool, batch).await;
        // Even when every append of the batch failed: an append whose answer was lost
        // (the connection broke after the commit) may have committed, and a wake-up
        // that finds nothing costs one read.
        notifier.appended();
    }
}

/// Writes a batch and answers each append.
async fn write(pool: &PgPool, batch: Vec<PendingAppend>) {
    metrics::histogram!(GROUP_COMMIT_BATCH).record(batch.len() as f64);
    if batch.len() > 1 {
        match append_batch(pool, &batch).await {
            Ok(mut appended) => {
                for pending in batch {
                    let answer = pending
                        .request
                        .events
                        .iter()
                        .map(|event| appended.remove(&event.event_id))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            CommitError::Database(sqlx::Error::Protocol(
                                "the batch append did not return every event".into(),
                            ))
                        });
                    let _ = pending.reply.send(answer);
                }
                return;
            }
            Err(error) => {
                tracing::debug!(%error, commands = batch.len(), "batch append failed; appending one by one");
            }
        }
    }
    for PendingAppend { request, reply } in batch {
        let answer = super::append_one(pool, &request).await;
        let _ = reply.send(answer);
    }
}

/// Every command of the batch in one statement (`append_batch.sql`);
/// what the log assigned, by event id.
async fn append_batch(
    pool: &PgPool,
    batch: &[PendingAppend],
) -> Result<HashMap<Uuid, Appended>, sqlx::Error> {
    let requests = || batch.iter().map(|pending| &pending.request);
    let events = || requests().flat_map(|p| p.events.iter().map(move |e| (p, e)));
    let claims = || requests().filter_map(|p| p.claim.as_ref().map(|claim| (p, claim)));
    let rows = sqlx::query(include_str!("append_batch.sql"))
        .bind(
            events()
                .map(|(p, _)| p.aggregate_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events().map(|(p, _)| p.aggregate_id.as_str()).collect::<Vec<_>>())
        .bind(events().map(|(_, e)| e.sequence).collect::<Vec<_>>())
        .bind(events().map(|(_, e)| e.event_type.as_str()).collect::<Vec<_>>())
        .bind(
            events()
                .map(|(_, e)| e.event_version.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(events().map(|(_, e)| e.payload.to_string()).collect::<Vec<_>>())
        .bind(events().map(|(p, _)| p.metadata.as_str()).collect::<Vec<_>>())
        .bind(events().map(|(_, e)| e.event_id).collect::<Vec<_>>())
        .bind(claims().map(|(_, c)| c.key.as_str()).collect::<Vec<_>>())
        .bind(claims().map(|(_, c)| c.request_hash.clone()).collect::<Vec<_>>())
        .bind(
            claims()
                .map(|(p, _)| p.aggregate_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(claims().map(|(p, _)| p.aggregate_id.as_str()).collect::<Vec<_>>())
        .bind(claims().map(|(p, _)| p.events[0].sequence).collect::<Vec<_>>())
        .bind(
            claims()
                .map(|(p, _)| p.events[p.events.len() - 1].sequence)
                .collect::<Vec<_>>(),
        )
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            let appended = super::appended(row)?;
            Ok((appended.event_id, appended))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! The batch path called directly (which appends share a batch depends on timing
    //! otherwise): a clean batch, and one with a conflict and a taken key.
    use super::*;
    use crate::log::{IdempotencyClaim, NewEvent};
    use test_support::TestDb;

    fn request(aggregate_id: &str, sequences: std::ops::RangeInclusive<i64>, key: Option<&str>) -> Append {
        Append {
            aggregate_type: "Thing".into(),
            aggregate_id: aggregate_id.into(),
            events: sequences
                .map(|sequence| NewEvent {
                    event_id: Uuid::now_v7(),
                    sequence,
                    event_type: "Happened".into(),
                    event_version: "1.0".into(),
                    payload: serde_json::json!({ "n": sequence }),
                })
                .collect(),
            metadata: r#"{"by":"test"}"#.into(),
            claim: key.map(|key| IdempotencyClaim {
                key: key.into(),
                request_hash: vec![7],
            }),
        }
    }

    /// Writes `requests` as one batch; the answers in order.
    async fn write_batch(pool: &PgPool, requests: Vec<Append>) -> Vec<Result<Vec<Appended>, CommitError>> {
        let (batch, answers): (Vec<_>, Vec<_>) = requests
            .into_iter()
            .map(|request| {
                let (reply, answer) = oneshot::channel();
                (PendingAppend { request, reply }, answer)
            })
            .unzip();
        write(pool, batch).await;
        let mut results = Vec::new();
        for answer in answers {
            results.push(answer.await.expect("every append answered"));
        }
        results
    }

    async fn count(pool: &PgPool, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
    }

    #[tokio::test]
    async fn a_batch_appends_every_command_with_contiguous_positions_per_command() {
        let db = TestDb::postgres().await;
        let pool = db.pool();

        let answers = write_batch(
            pool,
            vec![
                request("a", 1..=2, Some("k-a")),
                request("b", 1..=1, None),
                request("c", 1..=3, Some("k-c")),
            ],
        )
        .await;

        let answers: Vec<Vec<Appended>> = answers.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1, 3]);
        let positions: Vec<i64> = answers.iter().flatten().map(|a| a.position).collect();
        assert!(
            positions.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "{positions:?}"
        );
        assert_eq!(
            answers[2].iter().map(|a| a.sequence).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(count(pool, "SELECT count(*) FROM events").await, 6);
        assert_eq!(count(pool, "SELECT count(*) FROM command_idempotency").await, 2);
        let metadata: serde_json::Value = sqlx::query_scalar("SELECT metadata::jsonb FROM events LIMIT 1")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(metadata, serde_json::json!({ "by": "test" }));
    }

    #[tokio::test]
    async fn a_conflict_in_a_batch_fails_only_its_command() {
        let db = TestDb::postgres().await;
        let pool = db.pool();
        write_batch(pool, vec![request("taken", 1..=1, Some("used"))]).await[0]
            .as_ref()
            .unwrap();

        let answers = write_batch(
            pool,
            vec![
                request("fine", 1..=1, None),
                request("taken", 1..=2, None),
                request("other", 1..=1, Some("used")),
                request("also-fine", 1..=1, Some("new")),
            ],
        )
        .await;

        assert!(answers[0].is_ok());
        assert!(
            matches!(answers[1], Err(CommitError::StreamConflict)),
            "{:?}",
            answers[1]
        );
        assert!(
            matches!(answers[2], Err(CommitError::IdempotencyKeyTaken)),
            "{:?}",
            answers[2]
        );
        assert!(answers[3].is_ok());
        // The conflicting commands wrote nothing (not even their non-conflicting events).
        assert_eq!(count(pool, "SELECT count(*) FROM events").await, 3);
        assert_eq!(
            count(pool, "SELECT count(*) FROM events WHERE aggregate_id = 'other'").await,
            0
        );
        assert_eq!(count(pool, "SELECT count(*) FROM command_idempotency").await, 2);
    }
}
