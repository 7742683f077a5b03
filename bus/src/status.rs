//! What the relay reports: [`RelayStatus`], served by `GET /relay`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::LogCursor;
use utoipa::ToSchema;

/// What the relay is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RelayState {
    /// Not running yet.
    Starting,
    /// Another relay (in this or another process) holds the lock; this one waits to take over.
    Standby,
    /// Holds the lock, connecting to the broker.
    Connecting,
    /// Sending events, or waiting for their receipts.
    Publishing,
    /// Every committed event is published; waiting for new ones.
    CaughtUp,
    /// The broker or the database failed; waiting before trying again (see `last_error`).
    BackingOff,
    /// Stopped at an event it cannot map to an integration event (see `last_error`): a
    /// defect or a newer application's event. Retries now and then; never skips it.
    Stalled,
    /// Shut down.
    Stopped,
}

impl RelayState {
    pub const ALL: [RelayState; 8] = [
        RelayState::Starting,
        RelayState::Standby,
        RelayState::Connecting,
        RelayState::Publishing,
        RelayState::CaughtUp,
        RelayState::BackingOff,
        RelayState::Stalled,
        RelayState::Stopped,
    ];

    /// The state's name, as `GET /relay` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayState::Starting => "starting",
            RelayState::Standby => "standby",
            RelayState::Connecting => "connecting",
            RelayState::Publishing => "publishing",
            RelayState::CaughtUp => "caught_up",
            RelayState::BackingOff => "backing_off",
            RelayState::Stalled => "stalled",
            RelayState::Stopped => "stopped",
        }
    }
}

/// A cursor in the log, as shown to operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Checkpoint {
    /// The writing transaction of the last event published.
    pub transaction_id: i64,
    /// The global position of the last event published.
    pub position: i64,
}

impl From<LogCursor> for Checkpoint {
    fn from(cursor: LogCursor) -> Self {
        Self {
            transaction_id: cursor.transaction_id,
            position: cursor.position,
        }
    }
}

/// The relay's progress as it knows it, without asking the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RelayProgress {
    pub state: RelayState,
    /// The saved checkpoint: every event up to it (in commit order) has a send receipt.
    /// `null` before the relay has read it.
    pub checkpoint: Option<Checkpoint>,
    /// Events sent and not yet receipted.
    pub in_flight: usize,
    /// Events receipted since this process started (re-sends included).
    pub published: u64,
    /// When the last receipt arrived.
    pub last_publish_at: Option<DateTime<Utc>>,
    /// The last failure, kept after recovery so that it can still be read.
    pub last_error: Option<String>,
    /// When `last_error` happened.
    pub last_error_at: Option<DateTime<Utc>>,
}

impl Default for RelayProgress {
    fn default() -> Self {
        Self {
            state: RelayState::Starting,
            checkpoint: None,
            in_flight: 0,
            published: 0,
            last_publish_at: None,
            last_error: None,
            last_error_at: None,
        }
    }
}

/// The relay's status: its progress, and where the log's head is.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RelayStatus {
    /// The relay's name (its checkpoint row and lock).
    pub relay: String,
    #[serde(flatten)]
    pub progress: RelayProgress,
    /// The highest position in the log; `null` when the database does not answer.
    pub head: Option<i64>,
    /// Committed events not published yet (after the checkpoint); `null` when unknown.
    pub lag: Option<i64>,
    /// How long the oldest of them has waited, in seconds (0 when none waits); `null`
    /// when unknown.
    pub lag_seconds: Option<f64>,
}
