//! The tracking service's storage on Postgres: its tables in the schema `tracking`
//! (`migrations/tracking/postgres/`), its statements in the `.sql` files beside this one.

use async_trait::async_trait;
use sqlx::migrate::MigrateError;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};
use store::postgres::PgDb;

use crate::storage::{
    migration_set, Amount, CampaignFigures, CampaignView, Click, ConsumerStats, Conversion, ConversionSum,
    DeadLetter, Eligibility, EventApplied, NewRecord, TrackingStore, ViewWrite,
};

pub(crate) struct PgTracking {
    pool: PgPool,
}

impl PgTracking {
    pub(crate) fn new(db: &PgDb) -> Self {
        Self {
            pool: db.pool().clone(),
        }
    }
}

fn click(row: &PgRow) -> Result<Click, sqlx::Error> {
    Ok(Click {
        click_id: row.try_get("click_id")?,
        campaign_id: row.try_get("campaign_id")?,
        partner_id: row.try_get("partner_id")?,
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        external_id: row.try_get("external_id")?,
    })
}

fn conversion(row: &PgRow) -> Result<Conversion, sqlx::Error> {
    Ok(Conversion {
        conversion_id: row.try_get("conversion_id")?,
        campaign_id: row.try_get("campaign_id")?,
        partner_id: row.try_get("partner_id")?,
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
        external_id: row.try_get("external_id")?,
        value: Amount::of(row.try_get("value_amount")?, row.try_get("value_currency")?),
    })
}

/// A row of `campaign_conversions.sql` (`per_partner`) or `campaign_conversion_totals.sql`:
/// Postgres sums the exact `numeric` amounts itself.
fn conversion_sum(row: &PgRow, per_partner: bool) -> Result<ConversionSum, sqlx::Error> {
    Ok(ConversionSum {
        partner_id: per_partner.then(|| row.try_get("partner_id")).transpose()?,
        currency: row.try_get("value_currency")?,
        conversions: row.try_get("conversions")?,
        value: row.try_get("value")?,
    })
}

#[async_trait]
impl TrackingStore for PgTracking {
    async fn migrate(&self) -> Result<(), MigrateError> {
        migration_set(sqlx::migrate!("../migrations/tracking/postgres"))
            .run(&self.pool)
            .await
    }

    async fn begin_view_write(&self) -> Result<Box<dyn ViewWrite>, sqlx::Error> {
        Ok(Box::new(PgViewWrite {
            transaction: self.pool.begin().await?,
        }))
    }

    async fn record_dead_letter(&self, letter: &DeadLetter<'_>) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("record_dead_letter.sql"))
            .bind(letter.subscription)
            .bind(letter.event_id)
            .bind(letter.key)
            .bind(letter.payload)
            .bind(letter.properties_json())
            .bind(letter.reason)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    fn dead_letter_table(&self) -> &'static str {
        "tracking.dead_letters"
    }

    async fn find_click(&self, external_id: &str, campaign_id: &str) -> Result<Option<Click>, sqlx::Error> {
        sqlx::query(include_str!("find_click.sql"))
            .bind(external_id)
            .bind(campaign_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| click(&row))
            .transpose()
    }

    async fn insert_click(&self, new: &NewRecord<'_>) -> Result<Option<Click>, sqlx::Error> {
        sqlx::query(include_str!("insert_click.sql"))
            .bind(new.id)
            .bind(new.campaign_id)
            .bind(new.partner_id)
            .bind(new.occurred_at)
            .bind(new.external_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| click(&row))
            .transpose()
    }

    async fn find_conversion(
        &self,
        external_id: &str,
        campaign_id: &str,
    ) -> Result<Option<Conversion>, sqlx::Error> {
        sqlx::query(include_str!("find_conversion.sql"))
            .bind(external_id)
            .bind(campaign_id)
            .fetch_optional(&self.pool)
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
        sqlx::query(include_str!("insert_conversion.sql"))
            .bind(new.id)
            .bind(new.campaign_id)
            .bind(new.partner_id)
            .bind(new.occurred_at)
            .bind(new.external_id)
            .bind(value.map(|money| money.amount().to_string()))
            .bind(value.map(|money| money.currency().code()))
            .fetch_optional(&self.pool)
            .await?
            .map(|row| conversion(&row))
            .transpose()
    }

    async fn eligibility(&self, campaign_id: &str, partner_id: &str) -> Result<Eligibility, sqlx::Error> {
        let row = sqlx::query(include_str!("eligibility.sql"))
            .bind(campaign_id)
            .bind(partner_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(Eligibility {
            campaign_status: row.try_get("campaign_status")?,
            taking_part: row.try_get("taking_part")?,
            partner_status: row.try_get("partner_status")?,
        })
    }

    async fn campaign_figures(&self, campaign_id: &str) -> Result<CampaignFigures, sqlx::Error> {
        let view = sqlx::query(include_str!("campaign_view.sql"))
            .bind(campaign_id)
            .fetch_one(&self.pool)
            .await?;
        let view = CampaignView {
            status: view.try_get("status")?,
            participants: view.try_get("participants")?,
        };
        let clicks = sqlx::query_as(include_str!("campaign_clicks.sql"))
            .bind(campaign_id)
            .fetch_all(&self.pool)
            .await?;
        let conversions = sqlx::query(include_str!("campaign_conversions.sql"))
            .bind(campaign_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| conversion_sum(row, true))
            .collect::<Result<_, _>>()?;
        let totals = sqlx::query(include_str!("campaign_conversion_totals.sql"))
            .bind(campaign_id)
            .fetch_all(&self.pool)
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
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(ConsumerStats {
            events_applied: row.try_get("events_applied")?,
            duplicates_ignored: row.try_get("duplicates_ignored")?,
            last_event_id: row.try_get("last_event_id")?,
            last_event_type: row.try_get("last_event_type")?,
            last_event_subject: row.try_get("last_event_subject")?,
            last_applied_at: row.try_get("last_applied_at")?,
        }))
    }
}

/// Applying one event: a transaction of the pool.
struct PgViewWrite {
    transaction: Transaction<'static, Postgres>,
}

#[async_trait]
impl ViewWrite for PgViewWrite {
    async fn claim(&mut self, event: &EventApplied<'_>) -> Result<bool, sqlx::Error> {
        let inserted = sqlx::query(include_str!("record_applied_event.sql"))
            .bind(event.id)
            .bind(event.event_type)
            .bind(event.subject)
            .execute(&mut *self.transaction)
            .await?
            .rows_affected();
        Ok(inserted == 1)
    }

    async fn count_duplicate(&mut self, subscription: &str) -> Result<(), sqlx::Error> {
        sqlx::query(include_str!("count_duplicate.sql"))
            .bind(subscription)
            .execute(&mut *self.transaction)
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
            .bind(event.id)
            .bind(event.event_type)
            .bind(event.subject)
            .execute(&mut *self.transaction)
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
            .execute(&mut *self.transaction)
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
            .execute(&mut *self.transaction)
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
            .execute(&mut *self.transaction)
            .await
            .map(drop)
    }

    async fn commit(self: Box<Self>) -> Result<(), sqlx::Error> {
        self.transaction.commit().await
    }
}
