//! The tracking service's statements on each storage backend: the one place that knows
//! Postgres from SQLite. Everything above (the HTTP handlers, the consumers) calls these
//! functions with a [`Database`] and gets the same Rust values from either.
//!
//! The two schemas hold the same facts (migrations `…_create_tracking_schema.sql`), with
//! SQLite's types: UUIDs and moments as text, booleans as integers, and money amounts as
//! exact text plus integer minor units (SQLite has no exact decimal type; statistics sum
//! the integers). Every SQLite write goes through [`store::SqliteDb::begin_write`], which
//! queues this process's writers.
//!
//! SQL in `tracking/sql/postgres/` (schema `tracking`) and `tracking/sql/sqlite/` (tables
//! prefixed `tracking_`).

use bus::OutgoingMessage;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use store::Database;
use uuid::fmt::Hyphenated;
use uuid::Uuid;

use crate::http::records::{Click, Conversion, Eligibility, MoneyOut};

/// Picks a statement file of the running backend: `sql!(postgres, "find_click")`.
macro_rules! sql {
    (postgres, $name:literal) => {
        include_str!(concat!("../sql/postgres/", $name, ".sql"))
    };
    (sqlite, $name:literal) => {
        include_str!(concat!("../sql/sqlite/", $name, ".sql"))
    };
}
pub(crate) use sql;

/// One read whose parameters bind the same on both backends: runs the statement file
/// `$name` of the running backend, with `$binds` applied to `$query`, and `$fetch`es
/// its rows into `$decode` (written once, expanded for each backend's row type).
macro_rules! read {
    ($database:expr, $name:literal, |$query:ident| $binds:expr, $fetch:ident, $decode:expr) => {
        match $database {
            Database::Postgres(pool) => {
                let $query = sqlx::query(sql!(postgres, $name));
                ($decode)($binds.$fetch(pool).await?)
            }
            Database::Sqlite(db) => {
                let $query = sqlx::query(sql!(sqlite, $name));
                ($decode)($binds.$fetch(db.pool()).await?)
            }
        }
    };
}

/// A moment as the SQLite tables keep it: RFC 3339 UTC with microseconds, as precise as
/// Postgres's `timestamptz`.
pub(crate) fn sqlite_moment(moment: DateTime<Utc>) -> String {
    moment.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a column from a row of either backend. UUIDs are the one type stored differently
/// (Postgres `uuid`, SQLite hyphenated text), so row decoding is written once against this.
pub(crate) trait Columns {
    fn uuid(&self, column: &str) -> Result<Uuid, sqlx::Error>;
    fn opt_uuid(&self, column: &str) -> Result<Option<Uuid>, sqlx::Error>;
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    fn opt_bool(&self, column: &str) -> Result<Option<bool>, sqlx::Error>;
    fn moment(&self, column: &str) -> Result<DateTime<Utc>, sqlx::Error>;
    fn opt_moment(&self, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error>;
}

macro_rules! columns {
    ($row:ty, uuid: $uuid:ty) => {
        impl Columns for $row {
            fn uuid(&self, column: &str) -> Result<Uuid, sqlx::Error> {
                self.try_get::<$uuid, _>(column).map(Into::into)
            }
            fn opt_uuid(&self, column: &str) -> Result<Option<Uuid>, sqlx::Error> {
                self.try_get::<Option<$uuid>, _>(column)
                    .map(|id| id.map(Into::into))
            }
            fn text(&self, column: &str) -> Result<String, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
                self.try_get(column)
            }
            fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_bool(&self, column: &str) -> Result<Option<bool>, sqlx::Error> {
                self.try_get(column)
            }
            fn moment(&self, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
                self.try_get(column)
            }
            fn opt_moment(&self, column: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
                self.try_get(column)
            }
        }
    };
}

columns!(PgRow, uuid: Uuid);
columns!(SqliteRow, uuid: Hyphenated);

impl Click {
    fn from_row(row: &impl Columns) -> Result<Click, sqlx::Error> {
        Ok(Click {
            click_id: row.uuid("click_id")?,
            campaign_id: row.text("campaign_id")?,
            partner_id: row.text("partner_id")?,
            occurred_at: row.moment("occurred_at")?,
            recorded_at: row.moment("recorded_at")?,
            external_id: row.opt_text("external_id")?,
        })
    }
}

impl Conversion {
    fn from_row(row: &impl Columns) -> Result<Conversion, sqlx::Error> {
        let value = match (row.opt_text("value_amount")?, row.opt_text("value_currency")?) {
            (Some(amount), Some(currency)) => Some(MoneyOut { amount, currency }),
            _ => None,
        };
        Ok(Conversion {
            id: row.uuid("conversion_id")?,
            campaign_id: row.text("campaign_id")?,
            partner_id: row.text("partner_id")?,
            occurred_at: row.moment("occurred_at")?,
            recorded_at: row.moment("recorded_at")?,
            external_id: row.opt_text("external_id")?,
            value,
        })
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

/// The click recorded in a campaign with an external id.
pub(crate) async fn find_click(
    database: &Database,
    external_id: &str,
    campaign_id: &str,
) -> Result<Option<Click>, sqlx::Error> {
    read!(
        database,
        "find_click",
        |query| query.bind(external_id).bind(campaign_id),
        fetch_optional,
        |row: Option<_>| row.map(|row| Click::from_row(&row)).transpose()
    )
}

/// Records a click; `None` when one with the same external id exists already.
pub(crate) async fn insert_click(
    database: &Database,
    click: &NewRecord<'_>,
) -> Result<Option<Click>, sqlx::Error> {
    match database {
        Database::Postgres(pool) => sqlx::query(sql!(postgres, "insert_click"))
            .bind(click.id)
            .bind(click.campaign_id)
            .bind(click.partner_id)
            .bind(click.occurred_at)
            .bind(click.external_id)
            .fetch_optional(pool)
            .await?
            .map(|row| Click::from_row(&row))
            .transpose(),
        Database::Sqlite(db) => {
            let mut write = db.begin_write().await?;
            let row = sqlx::query(sql!(sqlite, "insert_click"))
                .bind(click.id.hyphenated())
                .bind(click.campaign_id)
                .bind(click.partner_id)
                .bind(sqlite_moment(click.occurred_at))
                .bind(sqlite_moment(Utc::now()))
                .bind(click.external_id)
                .fetch_optional(&mut *write)
                .await?;
            write.commit().await?;
            row.map(|row| Click::from_row(&row)).transpose()
        }
    }
}

/// The conversion recorded in a campaign with an external id.
pub(crate) async fn find_conversion(
    database: &Database,
    external_id: &str,
    campaign_id: &str,
) -> Result<Option<Conversion>, sqlx::Error> {
    read!(
        database,
        "find_conversion",
        |query| query.bind(external_id).bind(campaign_id),
        fetch_optional,
        |row: Option<_>| row.map(|row| Conversion::from_row(&row)).transpose()
    )
}

/// Records a conversion worth `value` (checked money); `None` when one with the same
/// external id exists already.
pub(crate) async fn insert_conversion(
    database: &Database,
    conversion: &NewRecord<'_>,
    value: Option<&aggregates::Money>,
) -> Result<Option<Conversion>, sqlx::Error> {
    // Exact: the domain rescaled it to the currency's minor units ("59.90").
    let amount = value.map(|money| money.amount().to_string());
    let currency = value.map(|money| money.currency().code());
    match database {
        Database::Postgres(pool) => sqlx::query(sql!(postgres, "insert_conversion"))
            .bind(conversion.id)
            .bind(conversion.campaign_id)
            .bind(conversion.partner_id)
            .bind(conversion.occurred_at)
            .bind(conversion.external_id)
            .bind(&amount)
            .bind(currency)
            .fetch_optional(pool)
            .await?
            .map(|row| Conversion::from_row(&row))
            .transpose(),
        Database::Sqlite(db) => {
            let minor = amount.as_deref().map(minor_units).transpose()?;
            let mut write = db.begin_write().await?;
            let row = sqlx::query(sql!(sqlite, "insert_conversion"))
                .bind(conversion.id.hyphenated())
                .bind(conversion.campaign_id)
                .bind(conversion.partner_id)
                .bind(sqlite_moment(conversion.occurred_at))
                .bind(sqlite_moment(Utc::now()))
                .bind(conversion.external_id)
                .bind(&amount)
                .bind(minor)
                .bind(currency)
                .fetch_optional(&mut *write)
                .await?;
            write.commit().await?;
            row.map(|row| Conversion::from_row(&row)).transpose()
        }
    }
}

/// An amount at its currency's minor units ("59.90") as an integer count of them (5990).
/// Money allows at most 15 integer digits and 3 decimals: it always fits an i64.
fn minor_units(amount: &str) -> Result<i64, sqlx::Error> {
    let digits: String = amount.chars().filter(|c| *c != '.').collect();
    digits
        .parse()
        .map_err(|error| sqlx::Error::Encode(format!("amount {amount:?} in minor units: {error}").into()))
}

/// A sum of minor units back as decimal text with the currency's decimals (5990 in EUR:
/// "59.90"), as Postgres's exact `numeric` sum shows it.
fn decimal_text(minor: i128, currency: &str) -> String {
    let decimals = aggregates::money::Currency::parse(currency)
        .map(|currency| currency.minor_units())
        .unwrap_or(0) as usize;
    let digits = minor.unsigned_abs().to_string();
    let sign = if minor < 0 { "-" } else { "" };
    if decimals == 0 {
        return format!("{sign}{digits}");
    }
    let digits = format!("{digits:0>width$}", width = decimals + 1);
    let (integer, fraction) = digits.split_at(digits.len() - decimals);
    format!("{sign}{integer}.{fraction}")
}

/// What the view knows of a (campaign, partner) pair.
pub(crate) async fn eligibility(
    database: &Database,
    campaign_id: &str,
    partner_id: &str,
) -> Result<Eligibility, sqlx::Error> {
    fn from_row(row: &impl Columns) -> Result<Eligibility, sqlx::Error> {
        Ok(Eligibility {
            campaign_status: row.opt_text("campaign_status")?,
            taking_part: row.opt_bool("taking_part")?,
            partner_status: row.opt_text("partner_status")?,
        })
    }
    read!(
        database,
        "eligibility",
        |query| query.bind(campaign_id).bind(partner_id),
        fetch_one,
        |row| from_row(&row)
    )
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

impl ConversionSum {
    fn from_postgres(row: &PgRow, per_partner: bool) -> Result<ConversionSum, sqlx::Error> {
        Ok(ConversionSum {
            partner_id: per_partner.then(|| row.text("partner_id")).transpose()?,
            currency: row.opt_text("value_currency")?,
            conversions: row.int("conversions")?,
            value: row.opt_text("value")?,
        })
    }

    fn from_sqlite(row: &SqliteRow, per_partner: bool) -> Result<ConversionSum, sqlx::Error> {
        let currency = row.opt_text("value_currency")?;
        let value = match (&currency, row.opt_int("value_high")?, row.opt_int("value_low")?) {
            (Some(currency), Some(high), Some(low)) => Some(decimal_text(
                i128::from(high) * 1_000_000_000 + i128::from(low),
                currency,
            )),
            _ => None,
        };
        Ok(ConversionSum {
            partner_id: per_partner.then(|| row.text("partner_id")).transpose()?,
            currency,
            conversions: row.int("conversions")?,
            value,
        })
    }
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

/// Reads everything a campaign's stats need.
pub(crate) async fn campaign_figures(
    database: &Database,
    campaign_id: &str,
) -> Result<CampaignFigures, sqlx::Error> {
    match database {
        Database::Postgres(pool) => {
            let view = sqlx::query(sql!(postgres, "campaign_view"))
                .bind(campaign_id)
                .fetch_one(pool)
                .await?;
            let view = CampaignView {
                status: view.opt_text("status")?,
                participants: view.try_get("participants")?,
            };
            let clicks = sqlx::query_as(sql!(postgres, "campaign_clicks"))
                .bind(campaign_id)
                .fetch_all(pool)
                .await?;
            let conversions = sqlx::query(sql!(postgres, "campaign_conversions"))
                .bind(campaign_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| ConversionSum::from_postgres(row, true))
                .collect::<Result<_, _>>()?;
            let totals = sqlx::query(sql!(postgres, "campaign_conversion_totals"))
                .bind(campaign_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| ConversionSum::from_postgres(row, false))
                .collect::<Result<_, _>>()?;
            Ok(CampaignFigures {
                view,
                clicks,
                conversions,
                totals,
            })
        }
        Database::Sqlite(db) => {
            let pool = db.pool();
            let view = sqlx::query(sql!(sqlite, "campaign_view"))
                .bind(campaign_id)
                .fetch_one(pool)
                .await?;
            let participants: String = view.text("participants")?;
            let view = CampaignView {
                status: view.opt_text("status")?,
                participants: serde_json::from_str(&participants)
                    .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
            };
            let clicks = sqlx::query_as(sql!(sqlite, "campaign_clicks"))
                .bind(campaign_id)
                .fetch_all(pool)
                .await?;
            let conversions = sqlx::query(sql!(sqlite, "campaign_conversions"))
                .bind(campaign_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| ConversionSum::from_sqlite(row, true))
                .collect::<Result<_, _>>()?;
            let totals = sqlx::query(sql!(sqlite, "campaign_conversion_totals"))
                .bind(campaign_id)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| ConversionSum::from_sqlite(row, false))
                .collect::<Result<_, _>>()?;
            Ok(CampaignFigures {
                view,
                clicks,
                conversions,
                totals,
            })
        }
    }
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

impl ConsumerStats {
    fn from_row(row: &impl Columns) -> Result<ConsumerStats, sqlx::Error> {
        Ok(ConsumerStats {
            events_applied: row.int("events_applied")?,
            duplicates_ignored: row.int("duplicates_ignored")?,
            last_event_id: row.opt_uuid("last_event_id")?,
            last_event_type: row.opt_text("last_event_type")?,
            last_event_subject: row.opt_text("last_event_subject")?,
            last_applied_at: row.opt_moment("last_applied_at")?,
        })
    }
}

/// The subscription's counters; `None` before its first event.
pub(crate) async fn consumer_stats(
    database: &Database,
    subscription: &str,
) -> Result<Option<ConsumerStats>, sqlx::Error> {
    read!(
        database,
        "consumer_stats",
        |query| query.bind(subscription),
        fetch_optional,
        |row: Option<_>| row.map(|row| ConsumerStats::from_row(&row)).transpose()
    )
}

/// Records a message of the in-process bus given up on, with why.
pub(crate) async fn record_dead_letter(
    database: &Database,
    subscription: &str,
    message: &OutgoingMessage,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let properties: serde_json::Map<String, serde_json::Value> = message
        .properties
        .iter()
        .map(|(name, value)| ((*name).to_owned(), serde_json::Value::from(value.as_str())))
        .collect();
    let properties = serde_json::Value::Object(properties);
    match database {
        Database::Postgres(pool) => {
            sqlx::query(sql!(postgres, "record_dead_letter"))
                .bind(subscription)
                .bind(message.event_id)
                .bind(&message.key)
                .bind(&message.payload)
                .bind(&properties)
                .bind(reason)
                .execute(pool)
                .await?;
        }
        Database::Sqlite(db) => {
            let mut write = db.begin_write().await?;
            sqlx::query(sql!(sqlite, "record_dead_letter"))
                .bind(subscription)
                .bind(message.event_id.hyphenated())
                .bind(&message.key)
                .bind(&message.payload)
                .bind(properties.to_string())
                .bind(reason)
                .execute(&mut *write)
                .await?;
            write.commit().await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_minor_units_read_as_the_currencys_decimals() {
        assert_eq!(decimal_text(1500, "EUR"), "15.00");
        assert_eq!(decimal_text(5, "EUR"), "0.05");
        assert_eq!(decimal_text(1000, "JPY"), "1000");
        assert_eq!(decimal_text(1, "KWD"), "0.001");
        // Beyond i64: ten of the largest amounts (15 integer digits, 3 decimals).
        let largest = 999_999_999_999_999_999_i128;
        assert_eq!(decimal_text(largest * 10, "KWD"), "9999999999999999.990");
    }

    #[test]
    fn amounts_at_minor_units_are_counted_exactly() {
        assert_eq!(minor_units("59.90").unwrap(), 5990);
        assert_eq!(minor_units("1000").unwrap(), 1000);
        assert_eq!(
            minor_units("999999999999999.999").unwrap(),
            999_999_999_999_999_999
        );
        assert!(minor_units("12x").is_err());
    }
}
