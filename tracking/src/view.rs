//! The tracking view, fed by integration events: which campaigns are active, which partners
//! take part in which campaign, which partners are barred.
//!
//! [`apply`] is idempotent on the event id (the event's row in `tracking.applied_events`
//! is inserted in the same transaction as its effect) and insensitive to order across
//! deliveries: every fact keeps the aggregate sequence of the event that set it and only a
//! later event replaces it (see the migration `20261122100001_create_tracking_schema.sql`).

use bus::v1::{CampaignEvent, CloudEvent, IntegrationEvent, PartnerEvent};
use sqlx::{PgPool, Postgres, Transaction};

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// First delivery: the view changed (if the event matters to it).
    Applied,
    /// Applied before: nothing changed.
    Duplicate,
}

/// Applies one integration event, exactly once.
#[tracing::instrument(skip_all, fields(event_id = %event.id, event_type = %event.event_type, subject = %event.subject))]
pub async fn apply(
    pool: &PgPool,
    subscription: &str,
    event: &CloudEvent<IntegrationEvent>,
) -> Result<Applied, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let claimed = sqlx::query(include_str!("../sql/record_applied_event.sql"))
        .bind(event.id)
        .bind(&event.event_type)
        .bind(&event.subject)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
    if claimed == 0 {
        sqlx::query(include_str!("../sql/count_duplicate.sql"))
            .bind(subscription)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        tracing::debug!("duplicate ignored");
        return Ok(Applied::Duplicate);
    }
    change_view(&mut transaction, &event.data, event.aggregatesequence).await?;
    sqlx::query(include_str!("../sql/count_applied_event.sql"))
        .bind(subscription)
        .bind(event.id)
        .bind(&event.event_type)
        .bind(&event.subject)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(Applied::Applied)
}

async fn change_view(
    transaction: &mut Transaction<'_, Postgres>,
    event: &IntegrationEvent,
    sequence: i64,
) -> Result<(), sqlx::Error> {
    match event {
        IntegrationEvent::Campaign(event) => {
            let campaign_id = event.campaign_id();
            let status = match event {
                CampaignEvent::Created(_) => Some("draft"),
                CampaignEvent::Activated(_) | CampaignEvent::Resumed(_) => Some("active"),
                CampaignEvent::Paused(_) => Some("paused"),
                CampaignEvent::Completed(_) => Some("completed"),
                CampaignEvent::Cancelled(_) => Some("cancelled"),
                CampaignEvent::ParticipantAdded(added) => {
                    return set_participant(transaction, campaign_id, &added.partner_id, true, sequence).await
                }
                CampaignEvent::ParticipantRemoved(removed) => {
                    return set_participant(transaction, campaign_id, &removed.partner_id, false, sequence)
                        .await
                }
                // Budget and schedule do not decide what may be tracked.
                CampaignEvent::BudgetChanged(_) | CampaignEvent::Rescheduled(_) => None,
            };
            if let Some(status) = status {
                sqlx::query(include_str!("../sql/set_campaign_status.sql"))
                    .bind(campaign_id)
                    .bind(status)
                    .bind(sequence)
                    .execute(&mut **transaction)
                    .await?;
            }
        }
        IntegrationEvent::Partner(event) => {
            let status = match event {
                PartnerEvent::Registered(_) | PartnerEvent::Reinstated(_) => Some("active"),
                PartnerEvent::Suspended(_) => Some("suspended"),
                PartnerEvent::Deactivated(_) => Some("deactivated"),
                PartnerEvent::ProfileUpdated(_) => None,
            };
            if let Some(status) = status {
                sqlx::query(include_str!("../sql/set_partner_status.sql"))
                    .bind(event.partner_id())
                    .bind(status)
                    .bind(sequence)
                    .execute(&mut **transaction)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn set_participant(
    transaction: &mut Transaction<'_, Postgres>,
    campaign_id: &str,
    partner_id: &str,
    taking_part: bool,
    sequence: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(include_str!("../sql/set_participant.sql"))
        .bind(campaign_id)
        .bind(partner_id)
        .bind(taking_part)
        .bind(sequence)
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

/// Whether a database error is the event's own fault (a value it carries that the
/// database refuses, a constraint it breaks): retrying cannot help, so the message goes
/// the redeliver-then-dead-letter way. Every other error (connection lost, server
/// restarting or read-only during a failover, permissions, a missing table after a
/// bad deploy, a lock timeout) is the database's, and the event is retried in place
/// until it goes through: dead-lettering a good event would leave the view wrong for
/// good.
pub fn is_caused_by_the_event(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => {
            // 22 data exception, 23 integrity constraint violation.
            error
                .code()
                .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
        }
        _ => false,
    }
}
