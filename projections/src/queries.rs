//! Reading the read models: what the query endpoints serve. Only views are read
//! here (and the log itself, for a campaign's event stream), never aggregates.
//!
//! Both backends answer the same rows in the same order: pages are ordered by id,
//! and ids are lowercase UUIDv7 text, which SQLite's byte order and any Postgres
//! collation sort alike; SQLite's rows are read as the same JSON documents Postgres's
//! `row_to_json` gives; and the name search folds case for every letter on both (see
//! `name_folded` in the SQLite migration).

use crate::backend::{sql, Sql, ViewConnection};
use crate::campaigns::CampaignView;
use crate::partners::PartnerView;
use crate::rows::Row;
use aggregates::campaign::CampaignStatus;
use aggregates::partner::PartnerStatus;
use aggregates::partner_kind::PartnerKind;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;
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

const LIST_CAMPAIGNS: Sql = sql!("list_campaigns.sql");
const LIST_PARTNERS: Sql = sql!("list_partners.sql");
const CAMPAIGN_EVENTS: Sql = sql!("campaign_events.sql");
const PARTNER_CAMPAIGNS: Sql = sql!("partner_campaigns.sql");

pub async fn list_campaigns(
    db: &Database,
    filter: &CampaignFilter,
) -> Result<Page<CampaignView>, sqlx::Error> {
    let status = filter.status.map(|s| s.as_str());
    let documents = match db {
        Database::Postgres(pool) => {
            sqlx::query_scalar(LIST_CAMPAIGNS.postgres)
                .bind(&filter.brand_id)
                .bind(status)
                .bind(&filter.after)
                .bind(filter.limit + 1)
                .fetch_all(pool)
                .await?
        }
        Database::Sqlite(sqlite) => {
            let sql = LIST_CAMPAIGNS
                .sqlite
                .replace("{document}", CampaignView::SQLITE_DOCUMENT);
            let texts = sqlx::query_scalar(&sql)
                .bind(&filter.brand_id)
                .bind(status)
                .bind(&filter.after)
                .bind(filter.limit + 1)
                .fetch_all(sqlite.pool())
                .await?;
            parse_documents(texts)?
        }
    };
    page(documents, filter.limit, |view: &CampaignView| view.id.clone())
}

pub async fn get_campaign(db: &Database, id: &str) -> Result<Option<CampaignView>, sqlx::Error> {
    let mut views: HashMap<String, CampaignView> = load_one(db, "campaign_view", id).await?;
    Ok(views.remove(id))
}

pub async fn campaign_events(db: &Database, id: &str) -> Result<Vec<StreamEvent>, sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            let rows = sqlx::query(CAMPAIGN_EVENTS.postgres)
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
        Database::Sqlite(sqlite) => {
            let rows = sqlx::query(CAMPAIGN_EVENTS.sqlite)
                .bind(id)
                .fetch_all(sqlite.pool())
                .await?;
            // SQLite stores ids and payloads as text (timestamps too: RFC 3339, which
            // sqlx decodes).
            let decode = |e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::Decode(e);
            rows.iter()
                .map(|row| {
                    let event_id: &str = row.try_get("event_id")?;
                    let payload: &str = row.try_get("payload")?;
                    Ok(StreamEvent {
                        event_id: Uuid::parse_str(event_id).map_err(|e| decode(e.into()))?,
                        sequence: row.try_get("sequence")?,
                        position: row.try_get("position")?,
                        event_type: row.try_get("event_type")?,
                        event_version: row.try_get("event_version")?,
                        recorded_at: row.try_get("recorded_at")?,
                        payload: serde_json::from_str(payload).map_err(|e| decode(e.into()))?,
                    })
                })
                .collect()
        }
    }
}

pub async fn list_partners(db: &Database, filter: &PartnerFilter) -> Result<Page<PartnerView>, sqlx::Error> {
    let kind = filter.kind.map(|k| k.as_str());
    let status = filter.status.map(|s| s.as_str());
    let documents = match db {
        Database::Postgres(pool) => {
            let pattern = filter
                .name_contains
                .as_deref()
                .map(|q| format!("%{}%", escape_like(q)));
            sqlx::query_scalar(LIST_PARTNERS.postgres)
                .bind(kind)
                .bind(status)
                .bind(pattern)
                .bind(&filter.after)
                .bind(filter.limit + 1)
                .fetch_all(pool)
                .await?
        }
        Database::Sqlite(sqlite) => {
            // Matched against the lowercased name: SQLite's LIKE folds ASCII only.
            let pattern = filter
                .name_contains
                .as_deref()
                .map(|q| format!("%{}%", escape_like(&q.to_lowercase())));
            let sql = LIST_PARTNERS
                .sqlite
                .replace("{document}", PartnerView::SQLITE_DOCUMENT);
            let texts = sqlx::query_scalar(&sql)
                .bind(kind)
                .bind(status)
                .bind(pattern)
                .bind(&filter.after)
                .bind(filter.limit + 1)
                .fetch_all(sqlite.pool())
                .await?;
            parse_documents(texts)?
        }
    };
    page(documents, filter.limit, |view: &PartnerView| view.id.clone())
}

pub async fn get_partner(
    db: &Database,
    id: &str,
) -> Result<Option<(PartnerView, Vec<PartnerCampaign>)>, sqlx::Error> {
    let mut views: HashMap<String, PartnerView> = load_one(db, "partner_view", id).await?;
    let Some(view) = views.remove(id) else {
        return Ok(None);
    };
    let rows: Vec<(String, String, String)> = match db {
        Database::Postgres(pool) => {
            sqlx::query_as(PARTNER_CAMPAIGNS.postgres)
                .bind(id)
                .fetch_all(pool)
                .await?
        }
        Database::Sqlite(sqlite) => {
            sqlx::query_as(PARTNER_CAMPAIGNS.sqlite)
                .bind(id)
                .fetch_all(sqlite.pool())
                .await?
        }
    };
    let campaigns = rows
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

/// The row of a live view with this id (none or one), through the projectors' own
/// loading statement.
async fn load_one<R: Row>(db: &Database, table: &str, id: &str) -> Result<HashMap<String, R>, sqlx::Error> {
    match db {
        Database::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            crate::rows::load_rows(ViewConnection::Postgres(&mut conn), table, &[id]).await
        }
        Database::Sqlite(sqlite) => {
            let mut conn = sqlite.pool().acquire().await?;
            crate::rows::load_rows(ViewConnection::Sqlite(&mut conn), table, &[id]).await
        }
    }
}

/// Row documents SQLite answered as JSON text.
fn parse_documents(texts: Vec<String>) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    texts
        .iter()
        .map(|text| serde_json::from_str(text).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .collect()
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
