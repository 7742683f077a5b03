//! The tracking service's storage: [`TrackingStore`], the one trait through which the
//! consumers and the HTTP handlers reach the database, and the types it reads and writes
//! (its own: the HTTP layer maps them to its answers, the view to the events).
//!
//! Each backend implements it in its own folder, with its statements beside it:
//! `postgres/` (schema `tracking`) and `sqlite/` (tables prefixed `tracking_`), built by
//! [`store::Database::per_backend`]. Nothing else in this crate knows which backend it
//! runs on. The tables are tracking's own migration set (`migrations/tracking/`, see
//! [`TrackingStore::migrate`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::{MigrateError, Migrator};
use std::sync::Arc;
use store::postgres::PgDb;
use store::sqlite::SqliteDb;
use store::{Database, PerBackend};
use uuid::Uuid;

/// Everything the tracking service stores or reads, on one backend.
#[async_trait]
pub(crate) trait TrackingStore: Send + Sync {
    /// Applies tracking's pending migrations (its tables only).
    async fn migrate(&self) -> Result<(), MigrateError>;

    /// Starts the transaction that applies one event to the view (on SQLite, a write
    /// through this process's writer turn). Dropped without [`ViewWrite::commit`], it
    /// rolls back.
    async fn begin_view_write(&self) -> Result<Box<dyn ViewWrite>, sqlx::Error>;

    /// Records a message of the in-process bus given up on, with why.
    async fn record_dead_letter(&self, letter: &DeadLetter<'_>) -> Result<(), sqlx::Error>;

    /// Where [`TrackingStore::record_dead_letter`] writes, as `GET /tracking/status` names it.
    fn dead_letter_table(&self) -> &'static str;

    /// The click recorded in a campaign with an external id.
    async fn find_click(&self, external_id: &str, campaign_id: &str) -> Result<Option<Click>, sqlx::Error>;

    /// Records a click; `None` when one with the same external id exists already.
    async fn insert_click(&self, click: &NewRecord<'_>) -> Result<Option<Click>, sqlx::Error>;

    /// The conversion recorded in a campaign with an external id.
    async fn find_conversion(
        &self,
        external_id: &str,
        campaign_id: &str,
    ) -> Result<Option<Conversion>, sqlx::Error>;

    /// Records a conversion worth `value` (checked money); `None` when one with the same
    /// external id exists already.
    async fn insert_conversion(
        &self,
        conversion: &NewRecord<'_>,
        value: Option<&aggregates::Money>,
    ) -> Result<Option<Conversion>, sqlx::Error>;

    /// What the view knows of a (campaign, partner) pair.
    async fn eligibility(&self, campaign_id: &str, partner_id: &str) -> Result<Eligibility, sqlx::Error>;

    /// Everything a campaign's stats are made of.
    async fn campaign_figures(&self, campaign_id: &str) -> Result<CampaignFigures, sqlx::Error>;

    /// The subscription's counters; `None` before its first event.
    async fn consumer_stats(&self, subscription: &str) -> Result<Option<ConsumerStats>, sqlx::Error>;
}

/// The statements that apply one event to the view, inside its transaction. The logic
/// that strings them together is written once, in [`crate::view`].
#[async_trait]
pub(crate) trait ViewWrite: Send {
    /// Inserts the event's row in the applied events: `false` if it was there already.
    async fn claim(&mut self, event: &EventApplied<'_>) -> Result<bool, sqlx::Error>;
    async fn count_duplicate(&mut self, subscription: &str) -> Result<(), sqlx::Error>;
    async fn count_applied(
        &mut self,
        subscription: &str,
        event: &EventApplied<'_>,
    ) -> Result<(), sqlx::Error>;
    /// Sets a campaign's status, unless a later event of its stream (`sequence`) did.
    async fn set_campaign_status(
        &mut self,
        campaign_id: &str,
        status: &str,
        sequence: i64,
    ) -> Result<(), sqlx::Error>;
    /// Records that a partner joined or left a campaign, unless a later event decided.
    async fn set_participant(
        &mut self,
        campaign_id: &str,
        partner_id: &str,
        taking_part: bool,
        sequence: i64,
    ) -> Result<(), sqlx::Error>;
    /// Sets a partner's status, unless a later event of its stream did.
    async fn set_partner_status(
        &mut self,
        partner_id: &str,
        status: &str,
        sequence: i64,
    ) -> Result<(), sqlx::Error>;
    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error>;
}

// A `Box`, not an `Arc`: a trait of another crate can be implemented for
// `Box<dyn LocalTrait>` (`Box` is fundamental) but not for `Arc<dyn LocalTrait>`.
impl PerBackend for Box<dyn TrackingStore> {
    fn postgres(db: &PgDb) -> Self {
        Box::new(crate::postgres::PgTracking::new(db))
    }

    fn sqlite(db: &SqliteDb) -> Self {
        Box::new(crate::sqlite::SqliteTracking::new(db))
    }
}

/// The tracking store of `database`'s backend, shared by the service's tasks.
pub(crate) fn open(database: &Database) -> Arc<dyn TrackingStore> {
    Arc::from(database.per_backend::<Box<dyn TrackingStore>>())
}

/// Tracking's migration set, as each backend embeds it (`migrations/tracking/<backend>/`).
///
/// sqlx 0.8 keeps every set's history in the one `_sqlx_migrations` table (a table-name
/// setting comes with 0.9), so this set finds the main set's versions there, and the main
/// set finds this one's: each ignores the versions it does not know. The versions and
/// their contents are those the main set applied before tracking had a set of its own, so
/// a database migrated then finds them applied.
pub(crate) fn migration_set(mut migrator: Migrator) -> Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

/// An event being applied, as the applied events and the counters record it.
pub(crate) struct EventApplied<'a> {
    pub id: Uuid,
    /// The CloudEvent `type`.
    pub event_type: &'a str,
    /// The CloudEvent `subject` (the aggregate's id).
    pub subject: &'a str,
}

/// A message of the in-process bus given up on.
pub(crate) struct DeadLetter<'a> {
    pub subscription: &'a str,
    pub event_id: Uuid,
    pub key: &'a str,
    pub payload: &'a [u8],
    /// The message's properties, `(name, value)`.
    pub properties: &'a [(&'static str, String)],
    pub reason: &'a str,
}

impl DeadLetter<'_> {
    /// The properties as the JSON object both backends keep.
    pub(crate) fn properties_json(&self) -> serde_json::Value {
        self.properties
            .iter()
            .map(|(name, value)| ((*name).to_owned(), serde_json::Value::from(value.as_str())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// A click or conversion to record, checked.
pub(crate) struct NewRecord<'a> {
    pub id: Uuid,
    pub campaign_id: &'a str,
    pub partner_id: &'a str,
    pub occurred_at: DateTime<Utc>,
    pub external_id: Option<&'a str>,
}

/// A recorded click.
#[derive(Debug, Clone)]
pub(crate) struct Click {
    pub click_id: Uuid,
    pub campaign_id: String,
    pub partner_id: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub external_id: Option<String>,
}

/// A recorded conversion.
#[derive(Debug, Clone)]
pub(crate) struct Conversion {
    pub conversion_id: Uuid,
    pub campaign_id: String,
    pub partner_id: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub external_id: Option<String>,
    pub value: Option<Amount>,
}

/// An amount of money as stored: exact decimal text and ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Amount {
    pub amount: String,
    pub currency: String,
}

impl Amount {
    /// Both halves, or no amount (a conversion without a value has neither).
    pub(crate) fn of(amount: Option<String>, currency: Option<String>) -> Option<Amount> {
        Some(Amount {
            amount: amount?,
            currency: currency?,
        })
    }
}

/// What the view knows of a (campaign, partner) pair; `None` where it knows nothing.
#[derive(Debug, Default)]
pub(crate) struct Eligibility {
    pub campaign_status: Option<String>,
    pub taking_part: Option<bool>,
    pub partner_status: Option<String>,
}

/// A campaign as the view knows it.
pub(crate) struct CampaignView {
    /// `None` if no status event arrived.
    pub status: Option<String>,
    /// Partners taking part, by id.
    pub participants: Vec<String>,
}

/// A count of conversions and, if they have a value, its sum in one currency.
pub(crate) struct ConversionSum {
    /// `None` for the totals (all partners).
    pub partner_id: Option<String>,
    pub currency: Option<String>,
    pub conversions: i64,
    /// Exact decimal text; `None` for conversions without a value.
    pub value: Option<String>,
}

/// What the stats of a campaign are made of.
pub(crate) struct CampaignFigures {
    pub view: CampaignView,
    /// Clicks per partner.
    pub clicks: Vec<(String, i64)>,
    /// Per partner and currency.
    pub conversions: Vec<ConversionSum>,
    /// Per currency, all partners together.
    pub totals: Vec<ConversionSum>,
}

/// A subscription's counters, as `GET /tracking/status` shows them.
pub(crate) struct ConsumerStats {
    pub events_applied: i64,
    pub duplicates_ignored: i64,
    pub last_event_id: Option<Uuid>,
    pub last_event_type: Option<String>,
    pub last_event_subject: Option<String>,
    pub last_applied_at: Option<DateTime<Utc>>,
}
