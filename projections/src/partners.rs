//! The `partners` projection: `partner_view`, one row per partner.

use crate::projection::{ApplyError, Projection, Tables};
use crate::rows::{documents, Document};
use crate::storage::{Statement, Table, ViewTransaction};
use aggregates::partner::{Partner, PartnerEvent, PartnerStatus};
use aggregates::partner_kind::PartnerKind;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cqrs_es::persist::EventUpcaster;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use store::RecordedEvent;
use uuid::Uuid;

pub const NAME: &str = "partners";
const VIEW: &str = "partner_view";

/// A row of `partner_view`; its fields are the table's columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerView {
    pub id: String,
    pub name: String,
    pub kind: PartnerKind,
    pub profile: String,
    pub email: Option<String>,
    pub status: PartnerStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    pub last_event_id: Uuid,
}

impl Document for PartnerView {
    const TIMESTAMPS: &'static [&'static str] = &["created_at", "updated_at"];

    /// `name_folded`: the name in lowercase, for a case-insensitive search that SQLite
    /// (which folds ASCII only) cannot do on the name itself.
    fn sqlite_columns(&self, columns: &mut serde_json::Map<String, serde_json::Value>) {
        columns.insert("name_folded".into(), self.name.to_lowercase().into());
    }
}

impl PartnerView {
    /// Folds one event into the view (`None`: the partner is not registered yet).
    fn apply(view: Option<Self>, recorded: &RecordedEvent, event: PartnerEvent) -> Result<Self, String> {
        let mut view = match (view, event) {
            (
                None,
                PartnerEvent::PartnerRegistered {
                    name,
                    kind,
                    profile,
                    email,
                },
            ) => {
                return Ok(PartnerView {
                    id: recorded.aggregate_id.clone(),
                    name,
                    kind,
                    profile,
                    email,
                    status: PartnerStatus::Active,
                    created_at: recorded.recorded_at,
                    updated_at: recorded.recorded_at,
                    version: recorded.sequence,
                    last_event_id: recorded.event_id,
                });
            }
            (Some(_), PartnerEvent::PartnerRegistered { .. }) => {
                return Err("partner registered twice".into())
            }
            (None, other) => {
                return Err(format!(
                    "{} for a partner that was never registered",
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

    /// Applies an event to an existing partner.
    fn fold(&mut self, event: PartnerEvent) {
        match event {
            // Refused by `apply` before it gets here.
            PartnerEvent::PartnerRegistered { .. } => {}
            PartnerEvent::PartnerProfileUpdated {
                name,
                kind,
                profile,
                email,
            } => {
                self.name = name;
                self.kind = kind;
                self.profile = profile;
                self.email = email;
            }
            PartnerEvent::PartnerSuspended { .. } => self.status = PartnerStatus::Suspended,
            PartnerEvent::PartnerReinstated => self.status = PartnerStatus::Active,
            PartnerEvent::PartnerDeactivated => self.status = PartnerStatus::Deactivated,
        }
    }
}

pub struct PartnersProjection {
    upcasters: Vec<Box<dyn EventUpcaster>>,
}

impl PartnersProjection {
    pub fn new(upcasters: Vec<Box<dyn EventUpcaster>>) -> Self {
        Self { upcasters }
    }
}

#[async_trait]
impl Projection for PartnersProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &[VIEW]
    }

    async fn apply(
        &self,
        tx: &mut dyn ViewTransaction,
        tables: Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ApplyError> {
        let table = Table {
            base: VIEW,
            copy: tables,
        };
        let views = crate::rows::fold_batch(
            tx,
            table,
            Partner::TYPE,
            events,
            &self.upcasters,
            PartnerView::apply,
        )
        .await?;
        if views.is_empty() {
            return Ok(());
        }
        let rows: Vec<&PartnerView> = views.values().collect();
        tx.write_rows(Statement::UpsertPartners, table, &documents(&rows)?)
            .await?;
        Ok(())
    }
}
