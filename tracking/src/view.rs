//! The tracking view, fed by integration events: which campaigns are active, which partners
//! take part in which campaign, which partners are barred.
//!
//! [`apply`] is idempotent on the event id (the event's row in the applied events is
//! inserted in the same transaction as its effect) and insensitive to order across
//! deliveries: every fact keeps the aggregate sequence of the event that set it and only a
//! later event replaces it (see the migration `20261122100001_create_tracking_schema.sql` in
//! `migrations/tracking/`). The logic is written once here; each backend's statements are
//! its `storage::ViewWrite`.

use contract::v1::{CampaignEvent, CloudEvent, IntegrationEvent, PartnerEvent};
use store::Database;

use crate::storage::{self, EventApplied, TrackingStore, ViewWrite};

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// First delivery: the view changed (if the event matters to it).
    Applied,
    /// Applied before: nothing changed.
    Duplicate,
}

/// Applies one integration event to `database`'s tracking view, exactly once (for tests
/// and tools; the service's feeds go through their store).
pub async fn apply(
    database: &Database,
    subscription: &str,
    event: &CloudEvent<IntegrationEvent>,
) -> Result<Applied, sqlx::Error> {
    apply_to(&*storage::open(database), subscription, event).await
}

/// Applies one integration event, exactly once, in one transaction: claim the event id;
/// a duplicate only counts as one; a first delivery changes the view and the counters.
#[tracing::instrument(skip_all, fields(event_id = %event.id, event_type = %event.event_type, subject = %event.subject))]
pub(crate) async fn apply_to(
    store: &dyn TrackingStore,
    subscription: &str,
    event: &CloudEvent<IntegrationEvent>,
) -> Result<Applied, sqlx::Error> {
    let applied = EventApplied {
        id: event.id,
        event_type: &event.event_type,
        subject: &event.subject,
    };
    let mut write = store.begin_view_write().await?;
    if !write.claim(&applied).await? {
        write.count_duplicate(subscription).await?;
        write.commit().await?;
        tracing::debug!("duplicate ignored");
        return Ok(Applied::Duplicate);
    }
    change_view(&mut *write, &event.data, event.aggregatesequence).await?;
    write.count_applied(subscription, &applied).await?;
    write.commit().await?;
    Ok(Applied::Applied)
}

async fn change_view(
    write: &mut dyn ViewWrite,
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
                    return write
                        .set_participant(campaign_id, &added.partner_id, true, sequence)
                        .await
                }
                CampaignEvent::ParticipantRemoved(removed) => {
                    return write
                        .set_participant(campaign_id, &removed.partner_id, false, sequence)
                        .await
                }
                // Budget and schedule do not decide what may be tracked.
                CampaignEvent::BudgetChanged(_) | CampaignEvent::Rescheduled(_) => None,
            };
            if let Some(status) = status {
                write.set_campaign_status(campaign_id, status, sequence).await?;
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
                write
                    .set_partner_status(event.partner_id(), status, sequence)
                    .await?;
            }
        }
    }
    Ok(())
}
