//! Reading the read models: what the query endpoints serve. Only views are read
//! here (and the log itself, for a campaign's event stream), never aggregates.

use crate::campaigns::CampaignView;
use crate::partners::PartnerView;
use aggregates::campaign::CampaignStatus;
use aggregates::partner::PartnerStatus;
use aggregates::partner_kind::PartnerKind;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};
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
}

pub async fn list_campaigns(
    pool: &PgPool,
    filter: &CampaignFilter,
) -> Result<Page<CampaignView>, sqlx::Error> {
    let documents = sqlx::query_scalar(include_str!("../sql/list_campaigns.sql"))
        .bind(&filter.brand_id)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(&filter.after)
        .bind(filter.limit + 1)
        .fetch_all(pool)
        .await?;
    page(documents, filter.limit, |view: &CampaignView| view.id.clone())
}

pub async fn get_campaign(pool: &PgPool, id: &str) -> Result<Option<CampaignView>, sqlx::Error> {
    let mut views: std::collections::HashMap<String, CampaignView> =
        crate::rows::load_rows(&mut *pool.acquire().await?, "campaign_view", &[id]).await?;
    Ok(views.remove(id))
}

pub async fn campaign_events(pool: &PgPool, id: &str) -> Result<Vec<StreamEvent>, sqlx::Error> {
    let rows = sqlx::query(include_str!("../sql/campaign_events.sql"))
        .bind(id)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(StreamEvent {
                event_id: row.try_get("event_id")?,
                sequence: row.try_get("sequence")?,
                position: row.try_get("position")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                recorded_at: row.try_get("recorded_at")?,
                payload: row.try_get("payload")?,
            })
        })
        .collect()
}

pub async fn list_partners(pool: &PgPool, filter: &PartnerFilter) -> Result<Page<PartnerView>, sqlx::Error> {
    let pattern = filter
        .name_contains
        .as_deref()
        .map(|q| format!("%{}%", escape_like(q)));
    let documents = sqlx::query_scalar(include_str!("../sql/list_partners.sql"))
        .bind(filter.kind.map(|k| k.as_str()))
        .bind(filter.status.map(|s| s.as_str()))
        .bind(pattern)
        .bind(&filter.after)
        .bind(filter.limit + 1)
        .fetch_all(pool)
        .await?;
    page(documents, filter.limit, |view: &PartnerView| view.id.clone())
}

pub async fn get_partner(
    pool: &PgPool,
    id: &str,
) -> Result<Option<(PartnerView, Vec<PartnerCampaign>)>, sqlx::Error> {
    let mut views: std::collections::HashMap<String, PartnerView> =
        crate::rows::load_rows(&mut *pool.acquire().await?, "partner_view", &[id]).await?;
    let Some(view) = views.remove(id) else {
        return Ok(None);
    };
    let rows = sqlx::query(include_str!("../sql/partner_campaigns.sql"))
        .bind(id)
        .fetch_all(pool)
        .await?;
    let campaigns = rows
        .iter()
        .map(|row| {
            let status: String = row.try_get("status")?;
            Ok(PartnerCampaign {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
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
fn escape_like(text: &str) -> String {
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
