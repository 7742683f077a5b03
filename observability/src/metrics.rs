//! The Prometheus figures: every metric's name (the one place they are spelled), its
//! description, and the recorder `GET /metrics` renders (`install().render()`).
//!
//! Crates record through the `metrics` facade with these names; until [`install`] runs
//! (tests of a single crate) recording does nothing. Figures that already live in a
//! status (a projector's checkpoint, the relay's lag) are read from it when
//! `/metrics` is asked, not kept twice: see each service's collector.
//!
//! Names follow Prometheus' conventions: an `alpes_` prefix, base units (`_seconds`),
//! `_total` on counters.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

// HTTP, both services. Labels: method, route (the route's template, or `unmatched`), status.
pub const HTTP_REQUESTS: &str = "alpes_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "alpes_http_request_duration_seconds";

// Commands, native and seed alike. Labels: aggregate, command, outcome ([`CommandOutcome`]).
pub const COMMANDS: &str = "alpes_commands_total";
pub const COMMAND_DURATION: &str = "alpes_command_duration_seconds";
/// Label: aggregate.
pub const EVENTS_APPENDED: &str = "alpes_events_appended_total";
/// Commands committed together by one transaction.
pub const GROUP_COMMIT_BATCH: &str = "alpes_group_commit_batch_commands";

// Projectors. Label: projector (and state).
pub const PROJECTOR_CHECKPOINT: &str = "alpes_projector_checkpoint_position";
pub const PROJECTOR_HEAD: &str = "alpes_projector_head_position";
pub const PROJECTOR_LAG_EVENTS: &str = "alpes_projector_lag_events";
pub const PROJECTOR_LAG_SECONDS: &str = "alpes_projector_lag_seconds";
pub const PROJECTOR_STATE: &str = "alpes_projector_state";
pub const PROJECTOR_EVENTS_APPLIED: &str = "alpes_projector_events_applied_total";
pub const PROJECTOR_POISON_EVENTS: &str = "alpes_projector_poison_events_total";

// The relay. Label: relay (and state).
pub const RELAY_CHECKPOINT: &str = "alpes_relay_checkpoint_position";
pub const RELAY_HEAD: &str = "alpes_relay_head_position";
pub const RELAY_LAG_EVENTS: &str = "alpes_relay_lag_events";
pub const RELAY_LAG_SECONDS: &str = "alpes_relay_lag_seconds";
pub const RELAY_STATE: &str = "alpes_relay_state";
pub const RELAY_PUBLISHED: &str = "alpes_relay_messages_published_total";
pub const RELAY_SEND_FAILURES: &str = "alpes_relay_send_failures_total";
pub const RELAY_IN_FLIGHT: &str = "alpes_relay_in_flight_messages";

// The tracking service's consumers of the integration events. Label: consumer.
pub const TRACKING_RECEIVED: &str = "alpes_tracking_events_received_total";
pub const TRACKING_APPLIED: &str = "alpes_tracking_events_applied_total";
pub const TRACKING_DUPLICATES: &str = "alpes_tracking_duplicates_total";
/// Rejected deliveries (undecodable, or refused by the database): redelivered, then
/// dead-lettered.
pub const TRACKING_REJECTED: &str = "alpes_tracking_events_rejected_total";
/// Dead letters recorded by the in-process feed. On Pulsar the client library moves a
/// message to `<topic>-dlq` after its last redelivery without handing it over, so
/// there the rejections (and the broker's own figures for the dead-letter topic) tell.
pub const TRACKING_DEAD_LETTERED: &str = "alpes_tracking_dead_lettered_total";

// The seed front door's command consumers. Label: consumer (`embedded`, or a topic).
pub const SEED_COMMANDS_RECEIVED: &str = "alpes_seed_commands_received_total";
pub const SEED_COMMANDS_SUCCEEDED: &str = "alpes_seed_commands_succeeded_total";
pub const SEED_COMMANDS_FAILED: &str = "alpes_seed_commands_failed_total";
pub const SEED_COMMANDS_DEAD_LETTERED: &str = "alpes_seed_commands_dead_lettered_total";
pub const SEED_COMMANDS_PENDING: &str = "alpes_seed_commands_pending";
pub const SEED_COMMANDS_LAG_SECONDS: &str = "alpes_seed_commands_lag_seconds";

// The database pool. Labels: pool (and state: idle, in_use).
pub const DB_POOL_CONNECTIONS: &str = "alpes_db_pool_connections";
pub const DB_POOL_MAX_CONNECTIONS: &str = "alpes_db_pool_max_connections";

/// How a command ended, as [`COMMANDS`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    Succeeded,
    /// The domain refused it (a business rule, invalid data).
    RuleViolation,
    /// The aggregate does not exist (or the caller may not see it).
    NotFound,
    /// A version, a concurrent writer, an existing aggregate or a reused key stood in
    /// its way.
    Conflict,
    /// The database could not be reached.
    Unavailable,
    /// Anything else: a defect.
    Error,
}

impl CommandOutcome {
    pub fn label(self) -> &'static str {
        match self {
            CommandOutcome::Succeeded => "succeeded",
            CommandOutcome::RuleViolation => "rule_violation",
            CommandOutcome::NotFound => "not_found",
            CommandOutcome::Conflict => "conflict",
            CommandOutcome::Unavailable => "unavailable",
            CommandOutcome::Error => "error",
        }
    }
}

/// Counts one command and its latency.
pub fn record_command(
    aggregate: &'static str,
    command: &'static str,
    outcome: CommandOutcome,
    elapsed: std::time::Duration,
) {
    let labels = [
        ("aggregate", aggregate),
        ("command", command),
        ("outcome", outcome.label()),
    ];
    metrics::counter!(COMMANDS, &labels).increment(1);
    metrics::histogram!(COMMAND_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// Latency buckets, in seconds: a millisecond to ten seconds.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once: later calls return the same), and describes
/// every metric. `alpes serve` and `alpes tracking` call it at start.
pub fn install() -> &'static PrometheusHandle {
    RECORDER.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Full(GROUP_COMMIT_BATCH.into()), BATCH_BUCKETS)
            })
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may be installed already (a test harness's): then this
        // process records there and `/metrics` shows only the described names.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed before; /metrics will be empty");
        }
        describe();
        handle
    })
}

/// The media type of the rendered figures (the Prometheus text format, version 0.0.4).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request."
    );
    describe_counter!(COMMANDS, "Commands handled, by aggregate, command and outcome.");
    describe_histogram!(
        COMMAND_DURATION,
        Unit::Seconds,
        "Time to handle a command, retries included."
    );
    describe_counter!(EVENTS_APPENDED, "Events appended to the log, by aggregate type.");
    describe_histogram!(
        GROUP_COMMIT_BATCH,
        "Commands committed by one transaction of the event log."
    );
    describe_gauge!(
        PROJECTOR_CHECKPOINT,
        "The log position up to which a projector has applied events."
    );
    describe_gauge!(
        PROJECTOR_HEAD,
        "The log's highest position, as a projector last saw it."
    );
    describe_gauge!(
        PROJECTOR_LAG_EVENTS,
        "Committed events a projector has not applied yet."
    );
    describe_gauge!(
        PROJECTOR_LAG_SECONDS,
        Unit::Seconds,
        "Age of the oldest event a projector has not applied (0 when caught up)."
    );
    describe_gauge!(
        PROJECTOR_STATE,
        "1 for a projector's current state, 0 for the others."
    );
    describe_counter!(
        PROJECTOR_EVENTS_APPLIED,
        "Events a projector has applied (its read model's count)."
    );
    describe_counter!(
        PROJECTOR_POISON_EVENTS,
        "Events a projector failed to apply and stopped at, in this process."
    );
    describe_gauge!(
        RELAY_CHECKPOINT,
        "The log position up to which every event is published."
    );
    describe_gauge!(
        RELAY_HEAD,
        "The log's highest position, as the relay last saw it."
    );
    describe_gauge!(RELAY_LAG_EVENTS, "Committed events not published yet.");
    describe_gauge!(
        RELAY_LAG_SECONDS,
        Unit::Seconds,
        "Age of the oldest event not published yet (0 when caught up)."
    );
    describe_gauge!(RELAY_STATE, "1 for the relay's current state, 0 for the others.");
    describe_counter!(
        RELAY_PUBLISHED,
        "Messages the broker confirmed, in this process (re-sends included)."
    );
    describe_counter!(
        RELAY_SEND_FAILURES,
        "Sends or receipts that failed, in this process."
    );
    describe_gauge!(RELAY_IN_FLIGHT, "Messages sent and not yet confirmed.");
    describe_counter!(
        TRACKING_RECEIVED,
        "Integration events the tracking service received (redeliveries included)."
    );
    describe_counter!(
        TRACKING_APPLIED,
        "Integration events applied to the tracking view."
    );
    describe_counter!(
        TRACKING_DUPLICATES,
        "Deliveries of events applied before, ignored."
    );
    describe_counter!(
        TRACKING_REJECTED,
        "Deliveries the tracking service rejected (they are redelivered, then dead-lettered)."
    );
    describe_counter!(
        TRACKING_DEAD_LETTERED,
        "Messages the tracking service could not process, dead-lettered."
    );
    describe_counter!(
        SEED_COMMANDS_RECEIVED,
        "Seed commands a consumer received (redeliveries included)."
    );
    describe_counter!(SEED_COMMANDS_SUCCEEDED, "Seed commands that succeeded.");
    describe_counter!(
        SEED_COMMANDS_FAILED,
        "Seed commands that failed (their problem stored as the outcome)."
    );
    describe_counter!(
        SEED_COMMANDS_DEAD_LETTERED,
        "Seed command messages that could not be read, dead-lettered."
    );
    describe_gauge!(SEED_COMMANDS_PENDING, "Seed commands accepted and not run yet.");
    describe_gauge!(
        SEED_COMMANDS_LAG_SECONDS,
        Unit::Seconds,
        "How long the oldest pending seed command has waited."
    );
    describe_gauge!(DB_POOL_CONNECTIONS, "Open database connections, idle or in use.");
    describe_gauge!(
        DB_POOL_MAX_CONNECTIONS,
        "The most connections the pool opens; in use at the maximum, requests wait."
    );
}
