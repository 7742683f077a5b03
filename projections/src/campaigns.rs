//! The `campaigns` projection: `campaign_view` (one row per campaign) and
//! `partner_campaigns` (which campaigns list a partner as participant).

use crate::projection::{ApplyError, Projection, Tables};
use crate::rows::{documents, Document};
use crate::storage::{Statement, Table, ViewTransaction};
use aggregates::campaign::{Campaign, CampaignEvent, CampaignStatus, Participant};
use aggregates::money::Money;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::persist::EventUpcaster;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

pub const NAME: &str = "campaigns";
const VIEW: &str = "campaign_view";
const PARTICIPATIONS: &str = "partner_campaigns";

/// A row of `campaign_view`; its fields are the table's columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    pub brand_id: String,
    pub status: CampaignStatus,
    pub budget: Money,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub participants: Vec<Participant>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event applied: the campaign's version.
    pub version: i64,
    pub last_event_id: Uuid,
}

/// A row of `partner_campaigns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participation {
    pub partner_id: String,
    pub campaign_id: String,
    pub campaign_name: String,
    pub campaign_status: CampaignStatus,
}

impl Document for CampaignView {
    const TIMESTAMPS: &'static [&'static str] = &["starts_at", "ends_at", "created_at", "updated_at"];
}

impl Document for Participation {}

impl CampaignView {
    /// Folds one event into the view (`None`: the campaign is not created yet).
    fn apply(view: Option<Self>, recorded: &RecordedEvent, event: CampaignEvent) -> Result<Self, String> {
        let mut view = match (view, event) {
            (
                None,
                CampaignEvent::CampaignCreated {
                    name,
                    brand_id,
                    budget,
                    schedule,
                },
            ) => {
                return Ok(CampaignView {
                    id: recorded.aggregate_id.clone(),
                    name,
                    brand_id,
                    status: CampaignStatus::Draft,
                    budget,
                    starts_at: schedule.map(|s| s.starts_at),
                    ends_at: schedule.map(|s| s.ends_at),
                    participants: Vec::new(),
                    created_at: recorded.recorded_at,
                    updated_at: recorded.recorded_at,
                    version: recorded.sequence,
                    last_event_id: recorded.event_id,
                });
            }
            (Some(_), CampaignEvent::CampaignCreated { .. }) => return Err("campaign created twice".into()),
            (None, other) => {
                return Err(format!(
                    "{} for a campaign that was never created",
                    other.event_type()
                ))
            }
            (Some(mut view), event) => {
                view.fold(event);
                view
            }
        };
        view.updated_at = recorded.recorded_at;
        view.version = recorded.sequence;
        view.last_event_id = recorded.event_id;
        Ok(view)
    }

    /// Applies an event to an existing campaign.
    fn fold(&mut self, event: CampaignEvent) {
        match event {
            // Refused by `apply` before it gets here.
            CampaignEvent::CampaignCreated { .. } => {}
            CampaignEvent::ParticipantAdded(participant) => self.participants.push(participant),
            CampaignEvent::ParticipantRemoved { partner_id } => {
                self.participants.retain(|p| p.partner_id != partner_id)
            }
            CampaignEvent::BudgetChanged { budget } => self.budget = budget,
            CampaignEvent::CampaignRescheduled { schedule } => {
                self.starts_at = Some(schedule.starts_at);
                self.ends_at = Some(schedule.ends_at);
            }
            CampaignEvent::CampaignActivated | CampaignEvent::CampaignResumed => {
                self.status = CampaignStatus::Active
            }
            CampaignEvent::CampaignPaused => self.status = CampaignStatus::Paused,
            CampaignEvent::CampaignCompleted => self.status = CampaignStatus::Completed,
            CampaignEvent::CampaignCancelled { .. } => self.status = CampaignStatus::Cancelled,
        }
    }

    fn participations(&self) -> impl Iterator<Item = Participation> + '_ {
        self.participants.iter().map(|participant| Participation {
            // A partner's id in the form `GET /partners/{id}` looks it up by.
            partner_id: canonical_id(&participant.partner_id),
            campaign_id: self.id.clone(),
            campaign_name: self.name.clone(),
            campaign_status: self.status,
        })
    }
}

/// A UUID in its lowercase hyphenated form; any other id as it is.
fn canonical_id(id: &str) -> String {
    Uuid::parse_str(id)
        .map(|uuid| uuid.to_string())
        .unwrap_or_else(|_| id.to_owned())
}

pub struct CampaignsProjection {
    upcasters: Vec<Box<dyn EventUpcaster>>,
}

impl CampaignsProjection {
    pub fn new(upcasters: Vec<Box<dyn EventUpcaster>>) -> Self {
        Self { upcasters }
    }
}

#[async_trait]
impl Projection for CampaignsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[VIEW, PARTICIPATIONS]
    }

    async fn apply(
        &self,
        tx: &mut dyn ViewTransaction,
        tables: Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ApplyError> {
        let view_table = Table {
            base: VIEW,
            copy: tables,
        };
        let views = crate::rows::fold_batch(
            tx,
            view_table,
            Campaign::TYPE,
            events,
            &self.upcasters,
            CampaignView::apply,
        )
        .await?;
        if views.is_empty() {
            return Ok(());
        }

        let rows: Vec<&CampaignView> = views.values().collect();
        tx.write_rows(Statement::UpsertCampaigns, view_table, &documents(&rows)?)
            .await?;
        let touched: Vec<&str> = views.keys().map(String::as_str).collect();
        let participations: Vec<Participation> =
            views.values().flat_map(CampaignView::participations).collect();
        let participations_table = Table {
            base: PARTICIPATIONS,
            copy: tables,
        };
        tx.write_ids(Statement::DeleteParticipations, participations_table, &touched)
            .await?;
        if !participations.is_empty() {
            tx.write_rows(
                Statement::InsertParticipations,
                participations_table,
                &documents(&participations)?,
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aggregates::partner_kind::PartnerKind;
    use store::LogCursor;

    fn recorded(sequence: i64) -> RecordedEvent {
        RecordedEvent {
            cursor: LogCursor {
                transaction_id: 1,
                position: sequence,
            },
            event_id: Uuid::now_v7(),
            aggregate_type: "Campaign".into(),
            aggregate_id: "c-1".into(),
            sequence,
            event_type: String::new(),
            event_version: "1.0".into(),
            payload: serde_json::Value::Null,
            metadata: serde_json::Value::Null,
            recorded_at: Utc::now(),
        }
    }

    fn created() -> CampaignEvent {
        CampaignEvent::CampaignCreated {
            name: "Launch".into(),
            brand_id: "b-1".into(),
            budget: Money::parse("100", "USD").unwrap(),
            schedule: None,
        }
    }

    fn participant(id: &str) -> Participant {
        Participant {
            partner_id: id.into(),
            kind: PartnerKind::Affiliate,
            name: "N".into(),
            profile: String::new(),
        }
    }

    #[test]
    fn a_view_follows_its_campaign() {
        let view = CampaignView::apply(None, &recorded(1), created()).unwrap();
        let view = CampaignView::apply(
            Some(view),
            &recorded(2),
            CampaignEvent::ParticipantAdded(participant("p-1")),
        )
        .unwrap();
        let last = recorded(3);
        let view = CampaignView::apply(Some(view), &last, CampaignEvent::CampaignActivated).unwrap();

        assert_eq!(view.status, CampaignStatus::Active);
        assert_eq!(view.version, 3);
        assert_eq!(view.last_event_id, last.event_id);
        let links: Vec<_> = view.participations().collect();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].campaign_status, CampaignStatus::Active);
    }

    #[test]
    fn events_for_a_missing_or_duplicated_campaign_are_refused() {
        assert!(CampaignView::apply(None, &recorded(1), CampaignEvent::CampaignPaused).is_err());
        let view = CampaignView::apply(None, &recorded(1), created()).unwrap();
        assert!(CampaignView::apply(Some(view), &recorded(2), created()).is_err());
    }

    #[test]
    fn the_row_shape_is_the_table_shape() {
        let view = CampaignView::apply(None, &recorded(1), created()).unwrap();
        let row = serde_json::to_value(&view).unwrap();
        let columns: Vec<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
        for column in [
            "id",
            "name",
            "brand_id",
            "status",
            "budget",
            "starts_at",
            "ends_at",
            "participants",
            "created_at",
            "updated_at",
            "version",
            "last_event_id",
        ] {
            assert!(columns.contains(&column), "missing {column}");
        }
        assert_eq!(row["status"], "draft");
        assert_eq!(row["budget"]["amount"], "100.00");
    }
}
