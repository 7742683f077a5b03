//! Postgres: tells the log's readers in every process (projectors, the outbox relay)
//! that events were appended, **after** the appends committed and outside their
//! transactions.
//!
//! Why not from inside the append (a trigger, as until migration
//! `20261122200000_notify_after_commit.sql`): a transaction that NOTIFYs takes a
//! cluster-wide lock before it commits and holds it until its commit record is
//! flushed, so notifying commits are flushed one at a time and Postgres cannot flush
//! many commits at once. Measured with `pgbench` on the 2-core machine of
//! BENCHMARKS.md (one-row INSERT transactions): 8 clients 2 899 tx/s without a NOTIFY
//! trigger and 722 with one; 32 clients 6 280 against 601.
//!
//! Here appends only mark that something was appended; one task sends one NOTIFY per
//! round, however many appends committed meanwhile, in a transaction of its own that
//! does not wait for a WAL flush (a notification needs no durability: readers also
//! poll, so a lost one only delays them until their next poll).

use tokio::sync::mpsc;

/// The notification statement (`sql/postgres/notify_appended.sql`).
const NOTIFY: &str = include_str!("../sql/postgres/notify_appended.sql");

/// Handle to the notifying task; the task stops when the handle is dropped.
#[derive(Debug)]
pub(crate) struct AppendNotifier {
    /// Capacity 1: a round already pending covers every append until it starts.
    pending: mpsc::Sender<()>,
}

impl AppendNotifier {
    /// Starts the task on the current runtime.
    pub fn start(pool: sqlx::PgPool) -> Self {
        let (pending, mut rounds) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            // Taking the round before sending makes the NOTIFY follow every append
            // that asked for it: an append that commits after this point asks again.
            while rounds.recv().await.is_some() {
                if let Err(error) = sqlx::query(NOTIFY).execute(&pool).await {
                    tracing::debug!(%error, "cannot notify readers of appended events; they will poll");
                }
            }
        });
        Self { pending }
    }

    /// Events were appended and committed: readers get a notification soon.
    pub fn appended(&self) {
        // Full: a round is already pending and will cover this append too.
        let _ = self.pending.try_send(());
    }
}
