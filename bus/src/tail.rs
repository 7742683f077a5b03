//! The relay's reading side: a task that tails the log in commit order from a cursor,
//! encodes each event as its integration event, and hands batches to the publishing side.
//!
//! A task of its own so that reading and encoding (a database round trip, JSON work)
//! overlap with sending and awaiting receipts instead of stalling them; a bounded channel
//! keeps it at most a couple of batches ahead.

use cqrs_es::persist::EventUpcaster;
use std::sync::Arc;
use std::time::Duration;
use store::reader::{self, LogCursor, LogWaker};
use store::Database;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::mapping::MappingError;
use crate::message::{encode, OutgoingMessage};

/// The shortest wait between two reads of an idle log; doubled after each empty read up
/// to the poll interval. Short, because an append notification can arrive while an older
/// transaction still hides the new event from the commit-safe read.
const MIN_IDLE_WAIT: Duration = Duration::from_millis(5);

/// What the tail hands over.
pub(crate) enum Tailed {
    /// The next events, encoded, in commit order.
    Batch(Vec<OutgoingMessage>),
    /// The log cannot be read now.
    Database(sqlx::Error),
    /// The next event cannot be mapped: nothing after it is handed over.
    Unmappable(MappingError),
}

pub(crate) struct Tail {
    pub database: Database,
    pub from: LogCursor,
    pub fetch_size: i64,
    pub poll_interval: Duration,
    pub waker: LogWaker,
    pub upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
}

impl Tail {
    /// Runs until it fails (after handing the failure over) or the receiver is dropped.
    pub(crate) async fn run(mut self, batches: mpsc::Sender<Tailed>) {
        let mut cursor = self.from;
        let mut idle_wait = MIN_IDLE_WAIT;
        loop {
            let events = match reader::read_after(&self.database, cursor, self.fetch_size).await {
                Ok(events) => events,
                Err(error) => {
                    let _ = batches.send(Tailed::Database(error)).await;
                    return;
                }
            };
            let full = i64::try_from(events.len()).unwrap_or(i64::MAX) >= self.fetch_size;
            if let Some(last) = events.last() {
                cursor = last.cursor;
                idle_wait = MIN_IDLE_WAIT;
            }
            let mut batch = Vec::with_capacity(events.len());
            let mut unmappable = None;
            for event in &events {
                match encode(event, &self.upcasters) {
                    Ok(message) => batch.push(message),
                    Err(error) => {
                        unmappable = Some(error);
                        break;
                    }
                }
            }
            if !batch.is_empty() && batches.send(Tailed::Batch(batch)).await.is_err() {
                return;
            }
            if let Some(error) = unmappable {
                let _ = batches.send(Tailed::Unmappable(error)).await;
                return;
            }
            if !full {
                // Caught up: wait for an append notification (or the idle wait).
                let waiting_since = Instant::now();
                self.waker.wait(idle_wait).await;
                idle_wait = if waiting_since.elapsed() < idle_wait {
                    MIN_IDLE_WAIT // woken by an append
                } else {
                    (idle_wait * 2).min(self.poll_interval)
                };
            }
        }
    }
}
