//! What the soak checks once the load has stopped: read straight from the database
//! (Postgres or the embedded SQLite file), against what the clients were told.
//!
//! - lost: an acknowledged event id missing from the log;
//! - not delivered / phantom: a log event tracking never applied, or an applied event
//!   the log does not have;
//! - duplicates applied: tracking's `events_applied` counter (one per application) above
//!   its `applied_events` rows (one per distinct event id), and read models whose version
//!   differs from their stream's length;
//! - double effects: two campaigns or partners created by one idempotent command (the
//!   load gives each a unique name);
//! - records lost: an acknowledged click or conversion tracking does not have.

use sqlx::{PgPool, SqlitePool};
use std::collections::{HashMap, HashSet};

use super::load::LoadReport;

/// Where the checks read.
pub enum Store {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the statement of the store's backend and fetches every row as `$row`.
macro_rules! fetch {
    ($store:expr, $row:ty, postgres: $pg:expr, sqlite: $lite:expr) => {
        match $store {
            Store::Postgres(pool) => sqlx::query_as::<_, $row>($pg).fetch_all(pool).await?,
            Store::Sqlite(pool) => sqlx::query_as::<_, $row>($lite).fetch_all(pool).await?,
        }
    };
}

/// The figures the checks found.
#[derive(Debug, Default)]
pub struct Findings {
    pub log_events: usize,
    pub acknowledged_events: usize,
    /// Acknowledged event ids missing from the log.
    pub lost: usize,
    pub delivered: usize,
    /// Log events tracking has not applied.
    pub not_delivered: usize,
    /// Events tracking applied that the log does not have.
    pub phantom: usize,
    /// Applications beyond one per event.
    pub duplicates_applied: i64,
    /// Deliveries tracking recognised as already applied and ignored (at-least-once at work).
    pub duplicates_ignored: i64,
    pub dead_letters: i64,
    pub streams: usize,
    /// Streams whose sequences are not exactly 1..=length.
    pub broken_streams: usize,
    /// Read-model rows missing or at another version than their stream's length.
    pub views_off: usize,
    /// Campaigns whose status in tracking differs from the read model's.
    pub tracking_status_off: usize,
    /// Names given to more than one campaign or partner (one create applied twice).
    pub double_creates: usize,
    pub acknowledged_records: usize,
    pub records_lost: usize,
}

impl Findings {
    /// Whether what is delivered asynchronously has caught up (what the checks wait for).
    pub fn caught_up(&self) -> bool {
        self.not_delivered == 0 && self.views_off == 0 && self.tracking_status_off == 0
    }
}

pub async fn check(store: &Store, load: &LoadReport) -> anyhow::Result<Findings> {
    let mut findings = Findings::default();

    let log: Vec<(String,)> = fetch!(store, (String,),
        postgres: "SELECT event_id::text FROM events",
        sqlite: "SELECT event_id FROM events");
    let log: HashSet<String> = log.into_iter().map(|(id,)| id).collect();
    findings.log_events = log.len();
    let acknowledged: HashSet<&String> = load.acknowledged_events.iter().collect();
    findings.acknowledged_events = acknowledged.len();
    findings.lost = acknowledged.iter().filter(|id| !log.contains(**id)).count();

    let applied: Vec<(String,)> = fetch!(store, (String,),
        postgres: "SELECT event_id::text FROM tracking.applied_events",
        sqlite: "SELECT event_id FROM tracking_applied_events");
    let applied: HashSet<String> = applied.into_iter().map(|(id,)| id).collect();
    findings.delivered = applied.intersection(&log).count();
    findings.not_delivered = log.len() - findings.delivered;
    findings.phantom = applied.len() - findings.delivered;

    let counters: Vec<(i64, i64)> = fetch!(store, (i64, i64),
        postgres: "SELECT COALESCE(sum(events_applied), 0)::bigint, COALESCE(sum(duplicates_ignored), 0)::bigint
                   FROM tracking.consumer_stats",
        sqlite: "SELECT COALESCE(sum(events_applied), 0), COALESCE(sum(duplicates_ignored), 0)
                 FROM tracking_consumer_stats");
    let (applications, ignored) = counters.first().copied().unwrap_or_default();
    findings.duplicates_applied = applications - applied.len() as i64;
    findings.duplicates_ignored = ignored;
    let dead: Vec<(i64,)> = fetch!(store, (i64,),
        postgres: "SELECT count(*) FROM tracking.dead_letters",
        sqlite: "SELECT count(*) FROM tracking_dead_letters");
    findings.dead_letters = dead.first().map_or(0, |(n,)| *n);

    let streams: Vec<(String, String, i64, i64, i64)> = fetch!(store, (String, String, i64, i64, i64),
        postgres: "SELECT aggregate_type, aggregate_id, count(*), count(DISTINCT sequence), max(sequence)
                   FROM events GROUP BY aggregate_type, aggregate_id",
        sqlite: "SELECT aggregate_type, aggregate_id, count(*), count(DISTINCT sequence), max(sequence)
                 FROM events GROUP BY aggregate_type, aggregate_id");
    findings.streams = streams.len();
    findings.broken_streams = streams
        .iter()
        .filter(|(_, _, count, distinct, max)| count != distinct || count != max)
        .count();
    let views: Vec<(String, i64)> = fetch!(store, (String, i64),
        postgres: "SELECT id, version FROM campaign_view UNION ALL SELECT id, version FROM partner_view",
        sqlite: "SELECT id, version FROM campaign_view UNION ALL SELECT id, version FROM partner_view");
    let views: HashMap<String, i64> = views.into_iter().collect();
    findings.views_off = streams
        .iter()
        .filter(|(_, id, count, _, _)| views.get(id) != Some(count))
        .count()
        + views.len().saturating_sub(streams.len());

    let statuses: Vec<(String, String, Option<String>)> = fetch!(store, (String, String, Option<String>),
        postgres: "SELECT v.id, v.status, t.status FROM campaign_view v
                   LEFT JOIN tracking.campaigns t ON t.campaign_id = v.id",
        sqlite: "SELECT v.id, v.status, t.status FROM campaign_view v
                 LEFT JOIN tracking_campaigns t ON t.campaign_id = v.id");
    findings.tracking_status_off = statuses
        .iter()
        .filter(|(_, view, tracking)| tracking.as_deref().map(str::to_lowercase) != Some(view.to_lowercase()))
        .count();

    let doubles: Vec<(i64,)> = fetch!(store, (i64,),
        postgres: "SELECT count(*) FROM (
                     SELECT name FROM campaign_view GROUP BY name HAVING count(*) > 1
                     UNION ALL SELECT name FROM partner_view GROUP BY name HAVING count(*) > 1) AS d",
        sqlite: "SELECT count(*) FROM (
                   SELECT name FROM campaign_view GROUP BY name HAVING count(*) > 1
                   UNION ALL SELECT name FROM partner_view GROUP BY name HAVING count(*) > 1)");
    findings.double_creates = doubles.first().map_or(0, |(n,)| *n as usize);

    let records: Vec<(String, String)> = fetch!(store, (String, String),
        postgres: "SELECT campaign_id, external_id FROM tracking.clicks WHERE external_id IS NOT NULL
                   UNION ALL SELECT campaign_id, external_id FROM tracking.conversions WHERE external_id IS NOT NULL",
        sqlite: "SELECT campaign_id, external_id FROM tracking_clicks WHERE external_id IS NOT NULL
                 UNION ALL SELECT campaign_id, external_id FROM tracking_conversions WHERE external_id IS NOT NULL");
    let records: HashSet<(String, String)> = records.into_iter().collect();
    findings.acknowledged_records = load.acknowledged_records.len();
    findings.records_lost = load
        .acknowledged_records
        .iter()
        .filter(|(campaign, external_id, _)| !records.contains(&(campaign.clone(), external_id.clone())))
        .count();
    Ok(findings)
}
