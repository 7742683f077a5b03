//! Reading the read models: what the query endpoints serve. Only views are read
//! here (and the log itself, for a campaign's event stream), never aggregates.
//!
//! Both backends answer the same rows in the same order: pages are ordered by id,
//! and ids are lowercase UUIDv7 text, which SQLite's byte order and any Postgres
//! collation sort alike; SQLite's rows are read as the same JSON documents Postgres's
//! `row_to_json` gives; and the name search folds case for every letter on both (see
//! `name_folded` in the SQLite migration).

use crate::campaigns::CampaignView;
use crate::partners::PartnerView;
use crate::rows::rows_by_id;
use crate::storage::ViewStore;
use aggregates::campaign::CampaignStatus;
use aggregates::partner::PartnerStatus;
use aggregates::partner_kind::PartnerKind;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::Database;
use uuid::Uuid;

/// One page of a keyset-paginated list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CampaignFilter {
    pub brand_id: Option<String>,
    /// Only the campaigns that list this partner id as participant.
    pub participant: Option<String>,
    pub status: Option<CampaignStatus>,
    /// The last id of the previous page.
    pub after: Option<String>,
    pub limit: i64,
}

#[derive(Debug, Clone, Default)]
pub struct PartnerFilter {
    pub kind: Option<PartnerKind>,
    pub status: Option<PartnerStatus>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Only the partner with this id.
    pub id: Option<String>,
    pub after: Option<String>,
    pub limit: i64,
}

/// A campaign listing a partner, as shown on the partner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerCampaign {
    pub id: String,
    pub name: String,
    pub status: CampaignStatus,
}

/// An event of a campaign's stream.
#[derive(Debug, Clone, Serialize)]
pub struct StreamEvent {
    pub event_id: Uuid,
    pub sequence: i64,
    pub position: i64,
    pub event_type: String,
    pub event_version: String,
    pub recorded_at: DateTime<Utc>,
    pub payload: serde_json::Value,
    /// What the command stored with it: its correlation id, when it came through the
    /// seed front door.
    pub metadata: serde_json::Value,
}

fn views(db: &Database) -> Box<dyn ViewStore> {
    db.per_backend()
}

pub async fn list_campaigns(
    db: &Database,
    filter: &CampaignFilter,
) -> Result<Page<CampaignView>, sqlx::Error> {
    let documents = views(db).list_campaigns(filter, filter.limit + 1).await?;
    page(documents, filter.limit, |view: &CampaignView| view.id.clone())
}

pub async fn get_campaign(db: &Database, id: &str) -> Result<Option<CampaignView>, sqlx::Error> {
    let mut views: HashMap<String, CampaignView> =
        rows_by_id(views(db).load_rows("campaign_view", &[id]).await?)?;
    Ok(views.remove(id))
}

pub async fn campaign_events(db: &Database, id: &str) -> Result<Vec<StreamEvent>, sqlx::Error> {
    views(db).stream_events("Campaign", id).await
}

/// A partner's stream, in order, straight from the log.
pub async fn partner_events(db: &Database, id: &str) -> Result<Vec<StreamEvent>, sqlx::Error> {
    views(db).stream_events("Partner", id).await
}

pub async fn list_partners(db: &Database, filter: &PartnerFilter) -> Result<Page<PartnerView>, sqlx::Error> {
    let documents = views(db).list_partners(filter, filter.limit + 1).await?;
    page(documents, filter.limit, |view: &PartnerView| view.id.clone())
}

pub async fn get_partner(
    db: &Database,
    id: &str,
) -> Result<Option<(PartnerView, Vec<PartnerCampaign>)>, sqlx::Error> {
    let store = views(db);
    let mut views: HashMap<String, PartnerView> = rows_by_id(store.load_rows("partner_view", &[id]).await?)?;
    let Some(view) = views.remove(id) else {
        return Ok(None);
    };
    let campaigns = store
        .partner_campaigns(id)
        .await?
        .into_iter()
        .map(|(id, name, status)| {
            Ok(PartnerCampaign {
                id,
                name,
                status: CampaignStatus::parse(&status).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown campaign status '{status}'").into())
                })?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
    Ok(Some((view, campaigns)))
}

/// Turns `limit + 1` fetched documents into a page and the cursor of the next one.
fn page<T: DeserializeOwned>(
    documents: Vec<serde_json::Value>,
    limit: i64,
    id: impl Fn(&T) -> String,
) -> Result<Page<T>, sqlx::Error> {
    let mut items = documents
        .into_iter()
        .map(|document| serde_json::from_value(document).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .collect::<Result<Vec<T>, _>>()?;
    let more = items.len() as i64 > limit;
    items.truncate(limit.max(0) as usize);
    let next_cursor = if more { items.last().map(id) } else { None };
    Ok(Page { items, next_cursor })
}

/// Makes user text match literally inside a LIKE pattern.
pub(crate) fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_user_text_match_literally() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("Alice"), "Alice");
    }
}
