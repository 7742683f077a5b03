//! The tracking service's storage on SQLite: its tables prefixed `tracking_`
//! (`migrations/tracking/sqlite/`), its statements in the `.sql` files beside this one.
//!
//! The tables hold the same facts as on Postgres, with SQLite's types: UUIDs and moments
//! as text, booleans as integers, and money amounts as exact text plus integer minor
//! units (SQLite has no exact decimal type; statistics sum the integers). Every write
//! goes through [`SqliteDb::begin_write`], which queues this process's writers.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::migrate::MigrateError;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use store::sqlite::{parse_uuid, SqliteDb, SqliteWrite};
use uuid::Uuid;

use crate::storage::{
    migration_set, Amount, CampaignFigures, CampaignView, Click, ConsumerStats, Conversion, ConversionSum,
    DeadLetter, Eligibility, EventApplied, NewRecord, TrackingStore, ViewWrite,
};

pub(crate) struct SqliteTracking {
    db: SqliteDb,
}

impl SqliteTracking {
    pub(crate) fn new(db: &SqliteDb) -> Self {
        Self { db: db.clone() }
    }
}

/// A moment as the tables keep it: RFC 3339 UTC with microseconds, as precise as
/// Postgres's `timestamptz`.
fn moment(moment: DateTime<Utc>) -> String {
    moment.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A uuid as the tables keep it: hyphenated text.
fn uuid_text(id: Uuid) -> String {
    id.hyphenated().to_string()
}

fn uuid(row: &SqliteRow, column: &str) -> Result<Uuid, sqlx::Error> {
    parse_uuid(&row.try_get::<String, _>(column)?)
}

fn click(row: &SqliteRow) -> Result<Click, sqlx::Error> {
    Ok(Click {
        click_id: uuid(row, "click_id")?,
        campaign_id: row.try_get("campaign_id")?,
        partner_id: row.try_get("partner_id")?,
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        external_id: row.try_get("external_id")?,
    })
}

fn conversion(row: &SqliteRow) -> Result<Conversion, sqlx::Error> {
    Ok(Conversion {
        conversion_id: uuid(row, "conversion_id")?,
        campaign_id: row.try_get("campaign_id")?,
        partner_id: row.try_get("partner_id")?,
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        external_id: row.try_get("external_id")?,
        value: Amount::of(row.try_get("value_amount")?, row.try_get("value_currency")?),
    })
}

/// A row of `campaign_conversions.sql` (`per_partner`) or `campaign_conversion_totals.sql`:
/// the sum comes in two integer halves of minor units (see the statements), joined here.
fn conversion_sum(row: &SqliteRow, per_partner: bool) -> Result<ConversionSum, sqlx::Error> {
    let currency: Option<String> = row.try_get("value_currency")?;
    let high: Option<i64> = row.try_get("value_high")?;
    let low: Option<i64> = row.try_get("value_low")?;
    let value = match (&currency, high, low) {
        (Some(currency), Some(high), Some(low)) => Some(decimal_text(
            i128::from(high) * 1_000_000_000 + i128::from(low),
            currency,
        )),
        _ => None,
    };
    Ok(ConversionSum {
        partner_id: per_partner.then(|| row.try_get("partner_id")).transpose()?,
        currency,
        conversions: row.try_get("conversions")?,
        value,
    })
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

#[async_trait]
impl TrackingStore for SqliteTracking {
    async fn migrate(&self) -> Result<(), MigrateError> {
        // Through the pool, as the store's own migrations: sqlx runs each migration in a
        // transaction of its own, which cannot nest in a writer turn's.
        migration_set(sqlx::migrate!("../migrations/tracking/sqlite"))
            .run(self.db.pool())
            .await
    }

    async fn begin_view_write(&self) -> Result<Box<dyn ViewWrite>, sqlx::Error> {
        Ok(Box::new(SqliteViewWrite {
            write: self.db.begin_write().await?,
        }))
    }

    async fn record_dead_letter(&self, letter: &DeadLetter<'_>) -> Result<(), sqlx::Error> {
        let mut write = self.db.begin_write().await?;
        sqlx::query(include_str!("record_dead_letter.sql"))
            .bind(letter.subscription)
            .bind(uuid_text(letter.event_id))
            .bind(letter.key)
            .bind(letter.payload)
            .bind(letter.properties_json().to_string())
            .bind(letter.reason)
            .execute(&mut *write)
            .await?;
        write.commit().await
    }

    fn dead_letter_table(&self) -> &'static str {
        "tracking_dead_letters"
    }

    async fn find_click(&self, external_id: &str, campaign_id: &str) -> Result<Option<Click>, sqlx::Error> {
        sqlx::query(include_str!("find_click.sql"))
            .bind(external_id)
            .bind(campaign_id)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| click(&row))
            .transpose()
    }

    async fn insert_click(&self, new: &NewRecord<'_>) -> Result<Option<Click>, sqlx::Error> {
        let mut write = self.db.begin_write().await?;
        let row = sqlx::query(include_str!("insert_click.sql"))
            .bind(uuid_text(new.id))
            .bind(new.campaign_id)
            .bind(new.partner_id)
            .bind(moment(new.occurred_at))
            .bind(moment(Utc::now()))
            .bind(new.external_id)
            .fetch_optional(&mut *write)
            .await?;
        write.commit().await?;
        row.map(|row| click(&row)).transpose()
    }

    async fn find_conversion(
        &self,
        external_id: &str,
        campaign_id: &str,
    ) -> Result<Option<Conversion>, sqlx::Error> {
        sqlx::query(include_str!("find_conversion.sql"))
            .bind(external_id)
            .bind(campaign_id)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| conversion(&row))
            .transpose()
    }

    async fn insert_conversion(
        &self,
        new: &NewRecord<'_>,
        value: Option<&aggregates::Money>,
    ) -> Result<Option<Conversion>, sqlx::Error> {
        // Exact: the domain rescaled it to the currency's minor units ("59.90").
        let amount = value.map(|money| money.amount().to_string());
        let minor = amount.as_deref().map(minor_units).transpose()?;
        let mut write = self.db.begin_write().await?;
        let row = sqlx::query(include_str!("insert_conversion.sql"))
            .bind(uuid_text(new.id))
            .bind(new.campaign_id)
            .bind(new.partner_id)
            .bind(moment(new.occurred_at))
            .bind(moment(Utc::now()))
            .bind(new.external_id)
            .bind(&amount)
            .bind(minor)
            .bind(value.map(|money| money.currency().code()))
            .fetch_optional(&mut *write)
            .await?;
        write.commit().await?;
        row.map(|row| conversion(&row)).transpose()
    }

    async fn eligibility(&self, campaign_id: &str, partner_id: &str) -> Result<Eligibility, sqlx::Error> {
        let row = sqlx::query(include_str!("eligibility.sql"))
            .bind(campaign_id)
            .bind(partner_id)
            .fetch_one(self.db.pool())
            .await?;
        Ok(Eligibility {
            campaign_status: row.try_get("campaign_status")?,
            taking_part: row.try_get("taking_part")?,
            partner_status: row.try_get("partner_status")?,
        })
    }

    async fn campaign_figures(&self, campaign_id: &str) -> Result<CampaignFigures, sqlx::Error> {
        let pool = self.db.pool();
        let view = sqlx::query(include_str!("campaign_view.sql"))
            .bind(campaign_id)
            .fetch_one(pool)
            .await?;
        let participants: String = view.try_get("participants")?;
        let view = CampaignView {
            status: view.try_get("status")?,
            participants: serde_json::from_str(&participants)
                .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
        };
        let clicks = sqlx::query_as(include_str!("campaign_clicks.sql"))
            .bind(campaign_id)
            .fetch_all(pool)
            .await?;
        let conversions = sqlx::query(include_str!("campaign_conversions.sql"))
            .bind(campaign_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| conversion_sum(row, true))
            .collect::<Result<_, _>>()?;
        let totals = sqlx::query(include_str!("campaign_conversion_totals.sql"))
            .bind(campaign_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| conversion_sum(row, false))
            .collect::<Result<_, _>>()?;
        Ok(CampaignFigures {
            view,
            clicks,
            conversions,
            totals,
        })
    }

    async fn consumer_stats(&self, subscription: &str) -> Result<Option<ConsumerStats>, sqlx::Error> {
        let Some(row) = sqlx::query(include_str!("consumer_stats.sql"))
            .bind(subscription)
            .fetch_optional(self.db.pool())
            .await?
        else {
            return Ok(None);
        };
        let last_event_id: Option<String> = row.try_get("last_event_id")?;
        Ok(Some(ConsumerStats {
            events_applied: row.try_get("events_applied")?,
            duplicates_ignored: row.try_get("duplicates_ignored")?,
            last_event_id: last_event_id.as_deref().map(parse_uuid).transpose()?,
            last_event_type: row.try_get("last_event_type")?,
            last_event_subject: row.try_get("last_event_subject")?,
            last_applied_at: row.try_get("last_applied_at")?,
        }))
    }
}

/// Applying one event: a write transaction in this process's writer turn.
struct SqliteViewWrite {
    write: SqliteWrite,
}

#[async_trait]
impl ViewWrite for SqliteViewWrite {
    async fn claim(&mut self, event: &EventApplied<'_>) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(include_str!("record_applied_event.sql"))
            .bind(uuid_text(event.id))
            .bind(event.event_type)
            .bind(event.subject)
            .execute(&mut *self.write)
            .await?
            .rows_affected();
        Ok(inserted == 1)
    }

    async fn count_duplicate(&mut self, subscription: &str) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("count_duplicate.sql"))
            .bind(subscription)
            .execute(&mut *self.write)
            .await
            .map(drop)
    }

    async fn count_applied(
        &mut self,
        subscription: &str,
        event: &EventApplied<'_>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("count_applied_event.sql"))
            .bind(subscription)
            .bind(uuid_text(event.id))
            .bind(event.event_type)
            .bind(event.subject)
            .execute(&mut *self.write)
            .await
            .map(drop)
    }

    async fn set_campaign_status(
        &mut self,
        campaign_id: &str,
        status: &str,
        sequence: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("set_campaign_status.sql"))
            .bind(campaign_id)
            .bind(status)
            .bind(sequence)
            .execute(&mut *self.write)
            .await
            .map(drop)
    }

    async fn set_participant(
        &mut self,
        campaign_id: &str,
        partner_id: &str,
        taking_part: bool,
        sequence: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("set_participant.sql"))
            .bind(campaign_id)
            .bind(partner_id)
            .bind(taking_part)
            .bind(sequence)
            .execute(&mut *self.write)
            .await
            .map(drop)
    }

    async fn set_partner_status(
        &mut self,
        partner_id: &str,
        status: &str,
        sequence: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("set_partner_status.sql"))
            .bind(partner_id)
            .bind(status)
            .bind(sequence)
            .execute(&mut *self.write)
            .await
            .map(drop)
    }

    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error> {
        self.write.commit().await
    }
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
