//! What the seed routes answer: the receipt of an accepted command, its outcome
//! (`GET /commands/{id}`), and how the command consumers are doing
//! (`GET /command-consumers`).

use crate::error::{ApiError, Problem};
use crate::extract::{Addressable, AggregateId};
use crate::state::AppState;
use auth::{Principal, Role};
use axum::extract::State;
use axum::Json;
use bus::commands::CommandConsumersHandle;
use chrono::{DateTime, Utc};
use serde::Serialize;
use store::{CommandCounts, CommandRecord, CommandStatus};
use utoipa::ToSchema;
use uuid::Uuid;

use super::desk::Consumers;

/// The answer to an accepted command: where to follow it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandReceipt {
    pub command_id: Uuid,
    /// `/commands/{command_id}`, also in `Location`.
    #[schema(example = "/commands/0190a5c8-7b6e-7c3a-9f0e-2d4b5a6c7d8e")]
    pub status_url: String,
}

/// What became of a command.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandStatusResponse {
    pub command_id: Uuid,
    /// The command's type, `alpes.command.register-campaign.v1`.
    #[serde(rename = "type")]
    pub command_type: String,
    #[schema(value_type = String, pattern = "^(pending|succeeded|failed)$")]
    pub status: CommandStatus,
    pub submitted_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Failed: the problem the native endpoint would have answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Problem>)]
    pub problem: Option<serde_json::Value>,
    /// Succeeded: the native command answer (`aggregate_id`, `version`, `event_ids`,
    /// `position`; a partner that joined a campaign adds `participation`, the campaign's
    /// answer; a conversion answers `conversion_id`, `campaign_id`, `partner_id`,
    /// `occurred_at`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub answer: serde_json::Map<String, serde_json::Value>,
}

impl From<CommandRecord> for CommandStatusResponse {
    fn from(record: CommandRecord) -> Self {
        let (problem, answer) = match (record.status, record.result) {
            (CommandStatus::Failed, Some(problem)) => (Some(problem), Default::default()),
            (CommandStatus::Succeeded, Some(serde_json::Value::Object(answer))) => (None, answer),
            _ => (None, Default::default()),
        };
        CommandStatusResponse {
            command_id: record.command_id,
            command_type: record.command_type,
            status: record.status,
            submitted_at: record.submitted_at,
            completed_at: record.completed_at,
            problem,
            answer,
        }
    }
}

/// How the command consumers of this process are doing.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandConsumersResponse {
    /// `embedded` (the database's command queue) or `pulsar` (the command topics).
    #[schema(pattern = "^(embedded|pulsar)$")]
    pub transport: &'static str,
    /// Commands accepted and still without an outcome, whichever process runs them: the
    /// lag in commands.
    pub pending: i64,
    /// How long the oldest of them has waited: the lag in seconds (0 when none waits).
    pub lag_seconds: f64,
    pub consumers: Vec<CommandConsumerFigures>,
}

/// One consumer: the embedded queue's worker, or a topic's subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandConsumerFigures {
    /// `embedded`, or the topic.
    pub name: String,
    /// The durable subscription (Pulsar).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// `connecting`, `consuming`, `backing_off` or `stopped` (Pulsar).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Commands received (a topic's redeliveries included), and how many succeeded,
    /// failed, or were dead-lettered (unreadable).
    pub received: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub dead_lettered: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl CommandConsumerFigures {
    fn of(name: String, counts: CommandCounts) -> Self {
        CommandConsumerFigures {
            name,
            subscription: None,
            state: None,
            received: counts.received,
            succeeded: counts.succeeded,
            failed: counts.failed,
            dead_lettered: counts.dead_lettered,
            last_error: None,
        }
    }
}

/// The seed commands' consumers in this process, and the commands still waiting.
#[utoipa::path(get, path = "/command-consumers", tag = "seed",
    responses((status = 200, body = CommandConsumersResponse), (status = 503, body = Problem)))]
pub(crate) async fn command_consumers(
    State(state): State<AppState>,
) -> Result<Json<CommandConsumersResponse>, ApiError> {
    Ok(Json(consumer_figures(&state).await?))
}

/// The figures `GET /command-consumers` shows (and `/metrics` exports).
pub(crate) async fn consumer_figures(state: &AppState) -> Result<CommandConsumersResponse, ApiError> {
    let desk = &state.commands;
    let backlog = desk.queue().backlog().await?;
    let lag_seconds = backlog
        .oldest_submitted_at
        .map(|oldest| (Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    let (transport, consumers) = match &desk.consumers {
        Consumers::Embedded(counters) => (
            "embedded",
            vec![CommandConsumerFigures::of(
                "embedded".to_owned(),
                counters.snapshot(),
            )],
        ),
        Consumers::Pulsar(handles) => (
            "pulsar",
            handles
                .iter()
                .flat_map(CommandConsumersHandle::status)
                .map(|topic| CommandConsumerFigures {
                    subscription: Some(topic.subscription),
                    state: serde_json::to_value(topic.state)
                        .ok()
                        .and_then(|state| state.as_str().map(str::to_owned)),
                    last_error: topic.last_error,
                    ..CommandConsumerFigures::of(topic.topic, topic.counts)
                })
                .collect(),
        ),
    };
    Ok(CommandConsumersResponse {
        transport,
        pending: backlog.pending,
        lag_seconds,
        consumers,
    })
}

/// A command accepted by the seed routes, as `/commands/{id}` names it.
pub struct AcceptedCommand;

impl Addressable for AcceptedCommand {
    const NAME: &'static str = "command";
    const NOT_FOUND: &'static str = "command.not_found";
}

/// What became of a command: `pending`, `succeeded` (with the native answer) or `failed`
/// (with the native problem), whichever process ran it. Admins and readers see every
/// command; others those they issued.
#[utoipa::path(get, path = "/commands/{id}", tag = "seed",
    params(("id" = Uuid, Path, description = "The command's id (`command_id`)")),
    responses((status = 200, body = CommandStatusResponse), (status = 404, body = Problem),
        (status = 503, body = Problem)))]
pub(crate) async fn command_status(
    State(state): State<AppState>,
    principal: Principal,
    id: AggregateId<AcceptedCommand>,
) -> Result<Json<CommandStatusResponse>, ApiError> {
    let command_id = id.uuid()?;
    let record = state
        .commands
        .queue()
        .find(command_id)
        .await?
        .filter(|record| issued_or_oversees(&principal, record.issued_by.as_ref()))
        .ok_or_else(|| AcceptedCommand::not_found(&command_id.to_string()))?;
    Ok(Json(record.into()))
}

/// Whether `principal` may follow a command `issued_by` someone: its own (the same
/// principal: subject, role, brand, partner), or any for admins and readers.
fn issued_or_oversees(principal: &Principal, issued_by: Option<&serde_json::Value>) -> bool {
    match principal.role {
        Role::Admin | Role::Reader => true,
        _ => issued_by
            .and_then(|issuer| serde_json::from_value::<Principal>(issuer.clone()).ok())
            .is_some_and(|issuer| &issuer == principal),
    }
}
