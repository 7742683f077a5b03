//! The seed system's front door: the routes its clients call (`POST /crear-campaign`,
//! `GET /eliminar-campaign/{id}`, ...), with their bodies unchanged, and
//! `GET /commands/{id}`, which tells them what became of each command.
//!
//! The seed's BFF published each request as a command on a Pulsar topic and never told
//! the client the outcome. Here a request is checked for shape at once (the native
//! API's 400 and 422 problems), then durably accepted (`202` with the command's id):
//! published to its topic with the broker's receipt, or, without a broker, stored in the
//! embedded command queue. The domain's rules are checked when the command runs, by the
//! same executors as the native endpoints ([`SeedCommands`]), so a failed command's
//! outcome carries the problem the native endpoint would have answered.
//!
//! - `bodies`: the seed's request bodies and the v1 command each becomes.
//! - [`runner`]: [`SeedCommands`], which runs them (campaigns and partners; conversions
//!   through the tracking service's runner).
//! - here: the routes, [`CommandDesk`] (accepting a command) and the outcome answers.

mod bodies;
pub mod runner;

pub use bodies::{SeedCampaign, SeedConversion, SeedParticipant, SeedPartner, FECHA_RANGE};
pub use runner::SeedCommands;

use crate::campaigns::queries::{
    self as campaign_queries, CampaignPage, CampaignResponse, ListCampaignsQuery,
};
use crate::error::{ApiError, Problem};
use crate::extract::{Addressable, AggregateId, CommandRequest, LegacyJson, NoBody};
use crate::reads::{Consistency, QueryParams};
use crate::state::AppState;
use aggregates::campaign::Campaign;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bus::commands::CommandConsumersHandle;
use bus::PublishCommand;
use chrono::{DateTime, Utc};
use contract::v1::commands::Command;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use store::{
    CommandCounters, CommandCounts, CommandOptions, CommandQueue, CommandRecord, CommandStatus, NewCommand,
    SubmitError, Submitted,
};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use uuid::Uuid;

/// The longest `Prefer: wait=N` honoured (less if the server's request timeout would
/// cut the wait short: [`CommandDesk::with_request_timeout`]).
const MAX_WAIT: Duration = Duration::from_secs(30);

pub(crate) fn router() -> Router<AppState> {
    use axum::routing::post;
    Router::new()
        .route("/crear-campaign", post(seed_create_campaign))
        .route("/registrar-campaign", post(seed_register_campaign))
        .route("/crear-partner", post(seed_create_partner))
        .route("/registrar-partner", post(seed_register_partner))
        .route("/registrar-evento", post(seed_register_conversion))
        .route(
            "/eliminar-campaign/{id}",
            get(seed_cancel_campaign).delete(seed_delete_campaign),
        )
        .route("/obtener-campaigns", get(seed_list_campaigns))
        .route("/obtener-campaigns/{id}", get(seed_get_campaign))
        .route("/commands/{id}", get(command_status))
        .route("/command-consumers", get(command_consumers))
}

/// Where accepted commands go: the broker's topics, or the embedded command queue.
/// Either way the `commands` table keeps each one and, later, its outcome.
#[derive(Clone)]
pub struct CommandDesk {
    queue: CommandQueue,
    broker: Option<Arc<dyn PublishCommand>>,
    consumers: Consumers,
    /// Whether a conversion accepted here will run (a tracking service takes them).
    runs_conversions: bool,
    /// The longest wait `Prefer: wait` gets.
    max_wait: Duration,
}

/// What runs the commands in this process, for `GET /command-consumers`.
#[derive(Clone)]
enum Consumers {
    /// The embedded queue's worker (`store::CommandWorker::counters`).
    Embedded(Arc<CommandCounters>),
    /// The consumers of the command topics (and of the outcomes topic).
    Pulsar(Vec<CommandConsumersHandle>),
}

impl CommandDesk {
    /// Commands run by this database's embedded queue, whose worker counts in `counters`;
    /// conversions only when `runs_conversions` (a tracking service in this process).
    pub fn embedded(queue: CommandQueue, counters: Arc<CommandCounters>, runs_conversions: bool) -> Self {
        CommandDesk {
            queue,
            broker: None,
            consumers: Consumers::Embedded(counters),
            runs_conversions,
            max_wait: MAX_WAIT,
        }
    }

    /// Commands published to a broker, whose consumers (`consumers`, those of this
    /// process) store the outcomes.
    pub fn brokered(
        queue: CommandQueue,
        broker: Arc<dyn PublishCommand>,
        consumers: Vec<CommandConsumersHandle>,
    ) -> Self {
        CommandDesk {
            queue,
            broker: Some(broker),
            consumers: Consumers::Pulsar(consumers),
            // `alpes tracking` consumes them from their topic.
            runs_conversions: true,
            max_wait: MAX_WAIT,
        }
    }

    /// Keeps `Prefer: wait` within the server's request timeout (with a second to
    /// spare to answer): a wait cut short by it would answer 503 for a command that was
    /// accepted.
    pub fn with_request_timeout(mut self, request_timeout: Duration) -> Self {
        self.max_wait = request_timeout
            .saturating_sub(Duration::from_secs(1))
            .min(MAX_WAIT);
        self
    }

    pub fn queue(&self) -> &CommandQueue {
        &self.queue
    }

    /// Accepts `command` durably: stored, and published when there is a broker.
    ///
    /// A command the broker did not confirm answers 503. Without an idempotency key it is
    /// withdrawn (the client was told nothing was accepted). With one it is kept, and the
    /// client's retry publishes it again under the same id, as it does for any retry
    /// that finds its command still pending: the broker may have stored a message whose
    /// receipt was lost, or the process may have died between storing and publishing,
    /// and the consumers take a command they have seen as a duplicate.
    async fn submit(&self, command: Command, options: CommandOptions) -> Result<Submitted, ApiError> {
        let payload = command.data();
        if contract::v1::commands::contains_nul(&payload) {
            // Valid JSON, but no database stores it as text; the native endpoints refuse
            // control characters as a rule too.
            return Err(ApiError::Domain(Box::new(NulInText)));
        }
        let command_id = Uuid::now_v7();
        let keyed = options.idempotency.is_some();
        let submitted = self
            .queue
            .submit(NewCommand {
                command_id,
                command_type: command.command_type().to_owned(),
                payload,
                queued: self.broker.is_none(),
                idempotency: options.idempotency,
            })
            .await
            .map_err(|error| match error {
                SubmitError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
                SubmitError::Raced => ApiError::StateConflict {
                    code: "command.concurrent_submission",
                    detail:
                        "a request with the same Idempotency-Key was being submitted at the same time; retry"
                            .into(),
                },
                SubmitError::Database(error) => error.into(),
            })?;
        let Some(broker) = &self.broker else {
            return Ok(submitted);
        };
        let record = submitted.record();
        if record.status != CommandStatus::Pending {
            return Ok(submitted);
        }
        // A replayed command is published as first stored (its own ids inside).
        let message = match &submitted {
            Submitted::Accepted(_) => command.message(record.command_id, record.submitted_at),
            Submitted::Replayed(_) => Command::from_data(&record.command_type, record.payload.clone())
                .map_err(|error| ApiError::Internal(format!("a stored command cannot be read: {error}")))?
                .message(record.command_id, record.submitted_at),
        };
        if let Err(error) = broker.publish(&message).await {
            tracing::warn!(command_id = %record.command_id, %error, "the broker did not take a command");
            if !keyed {
                self.queue.withdraw(record.command_id).await?;
            }
            return Err(ApiError::Unavailable {
                detail: "the message broker did not confirm the command; retry shortly".into(),
            });
        }
        Ok(submitted)
    }
}

/// A seed body with a NUL character in its text.
#[derive(Debug, thiserror::Error)]
#[error("text fields must not contain NUL characters")]
struct NulInText;

impl aggregates::DomainError for NulInText {
    fn code(&self) -> &'static str {
        "request.invalid_text"
    }
    fn category(&self) -> aggregates::error::ErrorCategory {
        aggregates::error::ErrorCategory::Rule
    }
    fn field(&self) -> Option<String> {
        None
    }
}

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

/// The answers of the seed routes that take a body (documentation only).
#[derive(IntoResponses)]
#[allow(dead_code)]
enum SeedCommandAnswers {
    /// Accepted; `Location` names its status.
    #[response(status = 202, headers(("Location" = String, description = "/commands/{command_id}"),
        ("Idempotent-Replayed" = String, description = "`true`: a retry with the same Idempotency-Key, answered with the first command")))]
    Accepted(CommandReceipt),
    /// `Prefer: wait`, and the outcome came in time.
    #[response(status = 200, headers(("Location" = String, description = "/commands/{command_id}"),
        ("Preference-Applied" = String, description = "`wait=N`, the wait honoured"),
        ("Idempotent-Replayed" = String, description = "`true`: a retry with the same Idempotency-Key, answered with the first command")))]
    Done(CommandStatusResponse),
    /// A malformed body.
    #[response(status = 400)]
    BadRequest(Problem),
    #[response(status = 413)]
    TooLarge(Problem),
    /// Not a JSON body.
    #[response(status = 415)]
    NotJson(Problem),
    /// The `Idempotency-Key` was used for another request, or text holds a NUL character.
    #[response(status = 422)]
    Refused(Problem),
    /// The database, or the broker, did not take the command.
    #[response(status = 503)]
    Unavailable(Problem),
}

/// The answers of `/eliminar-campaign/{id}` (documentation only).
#[derive(IntoResponses)]
#[allow(dead_code)]
enum CancelAnswers {
    /// Accepted; `Location` names its status.
    #[response(status = 202, headers(("Location" = String, description = "/commands/{command_id}"),
        ("Idempotent-Replayed" = String, description = "`true`: a retry with the same Idempotency-Key, answered with the first command")))]
    Accepted(CommandReceipt),
    /// `Prefer: wait`, and the outcome came in time.
    #[response(status = 200, headers(("Location" = String, description = "/commands/{command_id}"),
        ("Preference-Applied" = String, description = "`wait=N`, the wait honoured"),
        ("Idempotent-Replayed" = String, description = "`true`: a retry with the same Idempotency-Key, answered with the first command")))]
    Done(CommandStatusResponse),
    /// The id is not a campaign's (not a UUID).
    #[response(status = 404)]
    NotFound(Problem),
    /// The `Idempotency-Key` was used for another request.
    #[response(status = 422)]
    Refused(Problem),
    /// The database, or the broker, did not take the command.
    #[response(status = 503)]
    Unavailable(Problem),
}

/// The headers the seed routes read (documentation only: the handlers read them).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct SeedHeaders {
    /// RFC 7240: `wait=N` (seconds, at most 30) waits for the outcome and answers it
    /// (`200`, `Preference-Applied: wait=N`) if it comes in time, else `202`.
    #[param(rename = "Prefer", example = "wait=5")]
    prefer: Option<String>,
    /// Makes a retried submission answer the first `command_id` (same key and body); the
    /// same key with another body is refused with 422.
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

/// `Prefer: wait=N`: how long to wait for the outcome, in seconds, at most `max`.
/// Preferences that cannot be honoured are ignored, as RFC 7240 asks.
fn preferred_wait(headers: &HeaderMap, max: Duration) -> Option<u64> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split([',', ';']))
        .filter_map(|preference| {
            let (name, value) = preference.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("wait")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())?
        })
        .next()
        .map(|seconds| seconds.min(max.as_secs()))
}

/// Accepts a command and answers `202` with where to follow it, or, when the client
/// prefers to wait and the outcome comes in time, `200` with the outcome.
async fn accept(
    state: &AppState,
    headers: &HeaderMap,
    command: Command,
    options: CommandOptions,
) -> Result<Response, ApiError> {
    let submitted = state.commands.submit(command, options).await?;
    let replayed = matches!(submitted, Submitted::Replayed(_));
    let record = match submitted {
        Submitted::Accepted(record) | Submitted::Replayed(record) => record,
    };
    let command_id = record.command_id;
    let status_url = format!("/commands/{command_id}");
    let mut response = match preferred_wait(headers, state.commands.max_wait) {
        Some(seconds) => {
            let waited = state
                .commands
                .queue()
                .wait_for(command_id, Duration::from_secs(seconds))
                .await?
                .unwrap_or(record);
            if waited.status == CommandStatus::Pending {
                receipt(command_id, &status_url)
            } else {
                let mut response =
                    (StatusCode::OK, Json(CommandStatusResponse::from(waited))).into_response();
                if let Ok(applied) = HeaderValue::from_str(&format!("wait={seconds}")) {
                    response.headers_mut().insert("preference-applied", applied);
                }
                response
            }
        }
        None => receipt(command_id, &status_url),
    };
    if let Ok(location) = HeaderValue::from_str(&status_url) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn receipt(command_id: Uuid, status_url: &str) -> Response {
    let body = CommandReceipt {
        command_id,
        status_url: status_url.to_owned(),
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// Registers a campaign (topic `comando-registrar-campaign`), as the seed's BFF did.
#[utoipa::path(post, path = "/crear-campaign", tag = "seed", request_body = SeedCampaign,
    params(SeedHeaders),
    responses(SeedCommandAnswers))]
async fn seed_create_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: CommandRequest<LegacyJson<SeedCampaign>>,
) -> Result<Response, ApiError> {
    let LegacyJson(body) = request.body;
    accept(&state, &headers, body.command(), request.options).await
}

/// The same as `POST /crear-campaign` (the name the seed's code served).
#[utoipa::path(post, path = "/registrar-campaign", tag = "seed", request_body = SeedCampaign,
    params(SeedHeaders),
    responses(SeedCommandAnswers))]
async fn seed_register_campaign(
    state: State<AppState>,
    headers: HeaderMap,
    request: CommandRequest<LegacyJson<SeedCampaign>>,
) -> Result<Response, ApiError> {
    seed_create_campaign(state, headers, request).await
}

/// Registers a partner (topic `comando-registrar-partner`); with `id_campaign` it also
/// joins that campaign, and the outcome names both results.
#[utoipa::path(post, path = "/crear-partner", tag = "seed", request_body = SeedPartner,
    params(SeedHeaders),
    responses(SeedCommandAnswers))]
async fn seed_create_partner(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: CommandRequest<LegacyJson<SeedPartner>>,
) -> Result<Response, ApiError> {
    let LegacyJson(body) = request.body;
    accept(&state, &headers, body.command(), request.options).await
}

/// The same as `POST /crear-partner` (the name the seed's code served).
#[utoipa::path(post, path = "/registrar-partner", tag = "seed", request_body = SeedPartner,
    params(SeedHeaders),
    responses(SeedCommandAnswers))]
async fn seed_register_partner(
    state: State<AppState>,
    headers: HeaderMap,
    request: CommandRequest<LegacyJson<SeedPartner>>,
) -> Result<Response, ApiError> {
    seed_create_partner(state, headers, request).await
}

/// Records a conversion through the tracking service (topic
/// `comando-registrar-evento-conversion`).
#[utoipa::path(post, path = "/registrar-evento", tag = "seed", request_body = SeedConversion,
    params(SeedHeaders),
    responses(SeedCommandAnswers))]
async fn seed_register_conversion(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: CommandRequest<LegacyJson<SeedConversion>>,
) -> Result<Response, ApiError> {
    let LegacyJson(body) = request.body;
    if !state.commands.runs_conversions {
        return Err(ApiError::Unavailable {
            detail: "no tracking service takes conversions here: this process runs without its \
                     bus (--no-relay) and no PULSAR_URL"
                .into(),
        });
    }
    accept(&state, &headers, body.command(), request.options).await
}

/// Cancels a campaign (topic `comando-cancelar-campaign`); the seed's clients delete with
/// a `GET`.
#[utoipa::path(get, path = "/eliminar-campaign/{id}", tag = "seed",
    params(("id" = Uuid, Path, description = "Campaign id"), SeedHeaders),
    responses(CancelAnswers))]
async fn seed_cancel_campaign(
    State(state): State<AppState>,
    method: Method,
    id: AggregateId<Campaign>,
    headers: HeaderMap,
    request: CommandRequest<NoBody>,
) -> Result<Response, ApiError> {
    // axum answers HEAD with the GET route; a HEAD (a link checker, a cache) must not
    // cancel anything.
    if method == Method::HEAD {
        return Err(ApiError::MethodNotAllowed);
    }
    accept(
        &state,
        &headers,
        bodies::cancel_campaign(id.uuid()?),
        request.options,
    )
    .await
}

/// The same as `GET /eliminar-campaign/{id}`.
#[utoipa::path(delete, path = "/eliminar-campaign/{id}", tag = "seed",
    params(("id" = Uuid, Path, description = "Campaign id"), SeedHeaders),
    responses(CancelAnswers))]
async fn seed_delete_campaign(
    state: State<AppState>,
    method: Method,
    id: AggregateId<Campaign>,
    headers: HeaderMap,
    request: CommandRequest<NoBody>,
) -> Result<Response, ApiError> {
    seed_cancel_campaign(state, method, id, headers, request).await
}

/// Lists campaigns: `GET /campaigns` under the name the seed's BFF proxied it.
#[utoipa::path(get, path = "/obtener-campaigns", tag = "seed", params(ListCampaignsQuery),
    responses((status = 200, body = CampaignPage), (status = 400, body = Problem),
        (status = 503, description = "min_position not reached in time", body = Problem)))]
async fn seed_list_campaigns(
    state: State<AppState>,
    query: QueryParams<ListCampaignsQuery>,
) -> Result<Json<CampaignPage>, ApiError> {
    campaign_queries::list_campaigns(state, query).await
}

/// One campaign: `GET /campaigns/{id}` under the name the seed's BFF proxied it.
#[utoipa::path(get, path = "/obtener-campaigns/{id}", tag = "seed",
    params(("id" = Uuid, Path, description = "Campaign id"), Consistency),
    responses((status = 200, body = CampaignResponse), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 503, description = "min_position not reached in time", body = Problem)))]
async fn seed_get_campaign(
    state: State<AppState>,
    id: AggregateId<Campaign>,
    query: QueryParams<Consistency>,
) -> Result<Json<CampaignResponse>, ApiError> {
    campaign_queries::get_campaign(state, id, query).await
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
async fn command_consumers(
    State(state): State<AppState>,
) -> Result<Json<CommandConsumersResponse>, ApiError> {
    let desk = &state.commands;
    let backlog = desk.queue.backlog().await?;
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
    Ok(Json(CommandConsumersResponse {
        transport,
        pending: backlog.pending,
        lag_seconds,
        consumers,
    }))
}

/// A command accepted by the seed routes, as `/commands/{id}` names it.
pub struct AcceptedCommand;

impl Addressable for AcceptedCommand {
    const NAME: &'static str = "command";
    const NOT_FOUND: &'static str = "command.not_found";
}

/// What became of a command: `pending`, `succeeded` (with the native answer) or `failed`
/// (with the native problem), whichever process ran it.
#[utoipa::path(get, path = "/commands/{id}", tag = "seed",
    params(("id" = Uuid, Path, description = "The command's id (`command_id`)")),
    responses((status = 200, body = CommandStatusResponse), (status = 404, body = Problem),
        (status = 503, body = Problem)))]
async fn command_status(
    State(state): State<AppState>,
    id: AggregateId<AcceptedCommand>,
) -> Result<Json<CommandStatusResponse>, ApiError> {
    let command_id = id.uuid()?;
    let record = state
        .commands
        .queue()
        .find(command_id)
        .await?
        .ok_or_else(|| AcceptedCommand::not_found(&command_id.to_string()))?;
    Ok(Json(record.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefer(value: &str) -> Option<u64> {
        let mut headers = HeaderMap::new();
        headers.insert("prefer", HeaderValue::from_str(value).unwrap());
        preferred_wait(&headers, MAX_WAIT)
    }

    #[test]
    fn prefer_wait_is_read_and_capped() {
        assert_eq!(prefer("wait=5"), Some(5));
        assert_eq!(prefer("respond-async, wait=12"), Some(12));
        assert_eq!(prefer("handling=lenient; wait=\"3\""), Some(3));
        assert_eq!(prefer("wait=3600"), Some(30));
        assert_eq!(prefer("wait=soon"), None);
        assert_eq!(prefer("return=minimal"), None);
        assert_eq!(preferred_wait(&HeaderMap::new(), MAX_WAIT), None);
        let mut headers = HeaderMap::new();
        headers.insert("prefer", HeaderValue::from_static("wait=30"));
        assert_eq!(preferred_wait(&headers, Duration::from_secs(9)), Some(9));
    }
}
