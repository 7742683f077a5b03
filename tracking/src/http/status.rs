//! `GET /tracking/status`: the subscription, the last event applied, how many events were
//! applied and how many duplicates ignored, and each topic consumer's state.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::problem::TrackingError;
use super::TrackingState;
use crate::consumer::TopicProgress;

#[derive(Debug, Serialize)]
pub struct TrackingStatus {
    pub subscription: String,
    pub subscription_type: &'static str,
    pub dead_letter_topic: String,
    /// Events applied to the view (each once, whatever the deliveries).
    pub events_applied: i64,
    /// Deliveries of events applied before, ignored.
    pub duplicates_ignored: i64,
    pub last_event: Option<LastEvent>,
    /// One per topic.
    pub consumers: Vec<TopicProgress>,
}

#[derive(Debug, Serialize)]
pub struct LastEvent {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: String,
    pub applied_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct StatsRow {
    events_applied: i64,
    duplicates_ignored: i64,
    last_event_id: Option<Uuid>,
    last_event_type: Option<String>,
    last_event_subject: Option<String>,
    last_applied_at: Option<DateTime<Utc>>,
}

pub async fn status(State(state): State<TrackingState>) -> Result<Json<TrackingStatus>, TrackingError> {
    let stats: Option<StatsRow> = sqlx::query_as(include_str!("../../sql/consumer_stats.sql"))
        .bind(&state.config.subscription)
        .fetch_optional(&state.pool)
        .await?;
    let (events_applied, duplicates_ignored, last_event) = match stats {
        Some(row) => {
            let last_event = match (
                row.last_event_id,
                row.last_event_type,
                row.last_event_subject,
                row.last_applied_at,
            ) {
                (Some(id), Some(event_type), Some(subject), Some(applied_at)) => Some(LastEvent {
                    id,
                    event_type,
                    subject,
                    applied_at,
                }),
                _ => None,
            };
            (row.events_applied, row.duplicates_ignored, last_event)
        }
        None => (0, 0, None),
    };
    Ok(Json(TrackingStatus {
        subscription: state.config.subscription.clone(),
        subscription_type: "key_shared",
        dead_letter_topic: state.config.dead_letter_topic.clone(),
        events_applied,
        duplicates_ignored,
        last_event,
        consumers: state.consumer.progress(),
    }))
}
