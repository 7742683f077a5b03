//! What every command endpoint shares: its answer, its headers and how it runs.

use crate::access::Visible;
use crate::error::ApiError;
use crate::extract::{Addressable, AggregateId};
use aggregates::{CommandName, DomainError, ErrorCategory};
use auth::Principal;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cqrs_es::Aggregate;
use observability::metrics;
use serde::Serialize;
use std::time::Instant;
use store::{CommandError, CommandExecutor, CommandOptions, CommandOutcome};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The answer to every command: what it committed.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandAccepted {
    /// The aggregate the command was executed on.
    pub aggregate_id: String,
    /// The aggregate's version after the command; send it back as `If-Match: "N"`.
    pub version: usize,
    /// The ids of the events the command committed, in order. Views and Pulsar
    /// messages carry the same ids.
    pub event_ids: Vec<Uuid>,
    /// Global position of the aggregate's last event: pass it as `min_position` to
    /// a query to read your own write.
    pub position: i64,
}

/// The optional headers every command accepts (documentation only: the
/// `CommandRequest` extractor reads them).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct CommandHeaders {
    /// Optimistic concurrency: the version (as an ETag, `"3"`, or a bare number) the
    /// client expects the aggregate to be at, or `*` for any. 409 when it is not; 400
    /// when it is not a version.
    #[param(rename = "If-Match")]
    if_match: Option<String>,
    /// Makes the request safe to retry: a retry with the same key and body answers
    /// the first outcome (with the same event ids) and writes nothing; the same key
    /// with another request is refused with 422. 1 to 255 visible ASCII characters
    /// (else 400).
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}

/// `200 OK`, or `201 Created` with a `Location` under `collection` for a creation.
/// Every answer carries the new version as its `ETag`; a replayed idempotent answer
/// says so in `Idempotent-Replayed: true`.
pub fn accepted(outcome: CommandOutcome, created_in: Option<&str>) -> Response {
    let mut response = match created_in {
        Some(collection) => {
            let location = format!("{collection}/{}", outcome.aggregate_id);
            let mut response = (StatusCode::CREATED, axum::Json(body(&outcome))).into_response();
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        None => (StatusCode::OK, axum::Json(body(&outcome))).into_response(),
    };
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", outcome.version)) {
        headers.insert(header::ETAG, etag);
    }
    if outcome.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

fn body(outcome: &CommandOutcome) -> CommandAccepted {
    CommandAccepted {
        aggregate_id: outcome.aggregate_id.clone(),
        version: outcome.version,
        event_ids: outcome.event_ids.clone(),
        position: outcome.position,
    }
}

/// Runs `command` on the aggregate `id` names and answers what it committed (`200 OK`):
/// every command on an existing aggregate, with a body or without (the transitions,
/// `POST /campaigns/{id}/activate`, are nothing else). An id that is not a UUID, or an
/// aggregate `principal` may not see, is the 404 of an unknown one.
pub async fn execute<A>(
    executor: &CommandExecutor<A>,
    id: AggregateId<A>,
    command: A::Command,
    options: CommandOptions,
    principal: &Principal,
) -> Result<Response, ApiError>
where
    A: Addressable + Visible + Aggregate + Clone + 'static,
    A::Command: Clone + CommandName,
    A::Error: DomainError,
{
    let id = id.uuid()?.to_string();
    let outcome = execute_as(executor, &id, command, options, principal)
        .await
        .map_err(refusal::<A>)?;
    Ok(accepted(outcome, None))
}

/// The answer to a command that did not commit; an aggregate the caller may not see
/// answers what the domain answers for one that does not exist.
pub fn refusal<A>(error: CommandError<A::Error>) -> ApiError
where
    A: Addressable + Aggregate,
    A::Error: DomainError,
{
    match error {
        CommandError::NotVisible => A::absent(),
        other => other.into(),
    }
}

/// Runs `command` on the aggregate `id` if `principal` may see it; one it may not is
/// refused exactly as an aggregate that does not exist is (the domain's own 404).
pub async fn execute_as<A>(
    executor: &CommandExecutor<A>,
    id: &str,
    command: A::Command,
    options: CommandOptions,
    principal: &Principal,
) -> Result<CommandOutcome, CommandError<A::Error>>
where
    A: Addressable + Visible + Aggregate + Clone + 'static,
    A::Command: Clone + CommandName,
    A::Error: DomainError,
{
    run(executor, id, command, options, |aggregate: &A| {
        aggregate.visible_to(id, principal)
    })
    .await
}

/// Runs `command` on the aggregate `id` if `visible` says the caller may see it, and
/// counts it in the command metrics (its outcome and latency): every command of the
/// API and of the seed front door passes here.
pub async fn run<A>(
    executor: &CommandExecutor<A>,
    id: &str,
    command: A::Command,
    options: CommandOptions,
    visible: impl Fn(&A) -> bool + Send + Sync,
) -> Result<CommandOutcome, CommandError<A::Error>>
where
    A: Addressable + Aggregate + Clone + 'static,
    A::Command: Clone + CommandName,
    A::Error: DomainError,
{
    let name = command.name();
    let started = Instant::now();
    let result = executor.execute_visible(id, command, options, visible).await;
    metrics::record_command(A::NAME, name, outcome_label(&result), started.elapsed());
    result
}

/// How a command's result counts in the metrics.
fn outcome_label<E: DomainError>(
    result: &Result<CommandOutcome, CommandError<E>>,
) -> metrics::CommandOutcome {
    use metrics::CommandOutcome as Counted;
    match result {
        Ok(_) => Counted::Succeeded,
        Err(CommandError::Domain(refused)) => match refused.category() {
            ErrorCategory::NotFound => Counted::NotFound,
            ErrorCategory::AlreadyExists => Counted::Conflict,
            ErrorCategory::Rule => Counted::RuleViolation,
        },
        Err(CommandError::NotVisible) => Counted::NotFound,
        Err(
            CommandError::VersionMismatch { .. }
            | CommandError::Conflict { .. }
            | CommandError::IdempotencyKeyReused,
        ) => Counted::Conflict,
        Err(CommandError::Store(error)) if error.is_unavailable() => Counted::Unavailable,
        Err(CommandError::Store(_)) => Counted::Error,
    }
}
