//! Postgres: tells the log's readers that events were appended, **after** the appends
//! committed and outside their transactions. Readers in this process are woken
//! in-process at once; readers in other processes (another `alpes serve`, an
//! `alpes relay`) by a NOTIFY, sent at most once per [`NOTIFY_INTERVAL`].
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

use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The notification statement (`notify_appended.sql`).
const NOTIFY: &str = include_str!("notify_appended.sql");

/// The shortest time between two NOTIFY rounds. The first append after a quiet moment
/// is notified at once; under load, other processes' readers learn of appends up to
/// this late (they read everything committed when they wake). Without it, a NOTIFY
/// followed almost every second command (0.44 per command at 8 clients).
const NOTIFY_INTERVAL: Duration = Duration::from_millis(5);

/// A database, as far as wake-ups go: host, port and name.
type DatabaseKey = (String, u16, String);

/// The in-process signal of each database this process appends to.
static LOCAL_APPENDS: LazyLock<Mutex<HashMap<DatabaseKey, watch::Sender<u64>>>> =
    LazyLock::new(Mutex::default);

fn key(pool: &PgPool) -> DatabaseKey {
    let options = pool.connect_options();
    (
        options.get_host().to_owned(),
        options.get_port(),
        options.get_database().unwrap_or_default().to_owned(),
    )
}

/// This process's appends to `pool`'s database: changes after each one commits.
pub(crate) fn local_appends(pool: &PgPool) -> watch::Receiver<u64> {
    signal(pool).subscribe()
}

fn signal(pool: &PgPool) -> watch::Sender<u64> {
    let mut signals = LOCAL_APPENDS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    signals
        .entry(key(pool))
        .or_insert_with(|| watch::channel(0).0)
        .clone()
}

/// Handle to the notifying task; the task stops when the handle is dropped.
#[derive(Debug)]
pub(crate) struct AppendNotifier {
    /// Capacity 1: a round already pending covers every append until it starts.
    pending: mpsc::Sender<()>,
    local: watch::Sender<u64>,
}

impl AppendNotifier {
    /// Starts the task on the current runtime.
    pub fn start(pool: PgPool) -> Self {
        let local = signal(&pool);
        let (pending, mut rounds) = mpsc::channel::<()>(1);
        tokio::spawn(async move {
            // Taking the round before sending makes the NOTIFY follow every append
            // that asked for it: an append that commits after this point asks again.
            while rounds.recv().await.is_some() {
                if let Err(error) = sqlx::query(NOTIFY).execute(&pool).await {
                    tracing::debug!(%error, "cannot notify readers of appended events; they will poll");
                }
                tokio::time::sleep(NOTIFY_INTERVAL).await;
            }
        });
        Self { pending, local }
    }

    /// Events were appended and committed: readers of this process are woken now,
    /// those of other processes soon.
    pub fn appended(&self) {
        self.local.send_modify(|n| *n = n.wrapping_add(1));
        // Full: a round is already pending and will cover this append too.
        let _ = self.pending.try_send(());
    }
}
