//! `GET /tracking/status`: which feed the service consumes (Pulsar or the in-process bus),
//! the subscription, the last event applied, how many events were applied and how many
//! duplicates ignored, and each consumer's state; with the conversion-command consumer
//! running, its counts too.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::problem::TrackingError;
use super::{Feed, TrackingState};
use crate::consumer::TopicProgress;
use crate::storage::ConsumerStats;
use bus::commands::CommandTopicStatus;

#[derive(Debug, Serialize)]
pub struct TrackingStatus {
    /// `pulsar` (the topics, through a durable subscription) or `in_process` (the bus of
    /// the `alpes serve` process it runs in).
    pub feed: &'static str,
    pub subscription: String,
    /// `key_shared` on Pulsar; `in_process` otherwise.
    pub subscription_type: &'static str,
    /// Pulsar: where messages it cannot process go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    /// In-process: the table where messages it cannot process are recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_table: Option<&'static str>,
    /// Events applied to the view (each once, whatever the deliveries).
    pub events_applied: i64,
    /// Deliveries of events applied before, ignored.
    pub duplicates_ignored: i64,
    pub last_event: Option<LastEvent>,
    /// One per topic (Pulsar), or one for the in-process bus.
    pub consumers: Vec<TopicProgress>,
    /// The conversion commands' consumer (`comando-registrar-evento-conversion`), when it
    /// runs: received, succeeded, failed, dead-lettered, state, last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_consumers: Option<Vec<CommandTopicStatus>>,
}

#[derive(Debug, Serialize)]
pub struct LastEvent {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub subject: String,
    pub applied_at: DateTime<Utc>,
}

pub async fn status(State(state): State<TrackingState>) -> Result<Json<TrackingStatus>, TrackingError> {
    let stats = state.store.consumer_stats(&state.subscription).await?;
    let (events_applied, duplicates_ignored, last_event) = match stats {
        Some(ConsumerStats {
            events_applied,
            duplicates_ignored,
            last_event_id,
            last_event_type,
            last_event_subject,
            last_applied_at,
        }) => {
            let last_event = match (
                last_event_id,
                last_event_type,
                last_event_subject,
                last_applied_at,
            ) {
                (Some(id), Some(event_type), Some(subject), Some(applied_at)) => Some(LastEvent {
                    id,
                    event_type,
                    subject,
                    applied_at,
                }),
                _ => None,
            };
            (events_applied, duplicates_ignored, last_event)
        }
        None => (0, 0, None),
    };
    let (feed, subscription_type, dead_letter_topic, dead_letter_table) = match &state.feed {
        Feed::Pulsar { dead_letter_topic } => ("pulsar", "key_shared", Some(dead_letter_topic.clone()), None),
        Feed::InProcess => (
            "in_process",
            "in_process",
            None,
            Some(state.store.dead_letter_table()),
        ),
    };
    Ok(Json(TrackingStatus {
        feed,
        subscription: state.subscription.clone(),
        subscription_type,
        dead_letter_topic,
        dead_letter_table,
        events_applied,
        duplicates_ignored,
        last_event,
        consumers: state.consumer.progress(),
        command_consumers: state.commands.get().map(|commands| commands.status()),
    }))
}
