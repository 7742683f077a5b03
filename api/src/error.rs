//! [`ApiError`]: every way a request can fail, and the RFC 9457 problem
//! (`application/problem+json`, the [`Problem`] of the `problem` crate) each one
//! answers, in one place.
//!
//! Client mistakes and domain refusals become 4xx problems with a stable `code`
//! (and the offending `field` when there is one). Infrastructure failures are logged
//! with their cause and answered opaquely: the client learns that it failed, not why.

use aggregates::error::{DomainError, ErrorCategory};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use store::{CommandError, StoreError};

/// The body of every error answer (and the OpenAPI document's `Problem` schema),
/// shared with the tracking service.
pub use problem::Problem;

/// A 503's `Retry-After`, in seconds: views catch up in milliseconds, databases come
/// back, load passes: try again soon.
const RETRY_SOON: u64 = 1;

/// Every way a request can fail.
#[derive(Debug)]
pub enum ApiError {
    /// The aggregate refused the command: 404, 409 or 422 by the error's category.
    Domain(Box<dyn DomainError>),
    /// A malformed request: bad JSON, wrong types, bad header or path.
    BadRequest {
        code: &'static str,
        detail: String,
        field: Option<String>,
    },
    /// The body is not JSON.
    UnsupportedMediaType,
    /// The body is larger than the limit.
    PayloadTooLarge {
        limit: usize,
    },
    /// No aggregate with that id.
    NotFound {
        code: &'static str,
        detail: String,
    },
    /// No such route.
    RouteNotFound,
    MethodNotAllowed,
    /// `If-Match` named another version.
    VersionMismatch {
        expected: usize,
        actual: usize,
    },
    /// Concurrent writers kept winning.
    Conflict,
    /// The request conflicts with the state of a resource (not a domain rule).
    StateConflict {
        code: &'static str,
        detail: String,
    },
    /// A query's `min_position` was not reached by a view in time.
    NotCaughtUp {
        projection: &'static str,
        checkpoint: i64,
        requested: i64,
    },
    /// The idempotency key was used for another request.
    IdempotencyKeyReused,
    /// A dependency (the database) is unreachable.
    Unavailable {
        detail: String,
    },
    /// The client did not send the whole request body within the limit (a slow or
    /// stalled client): 408, and the connection is closed.
    RequestTimeout {
        limit: Duration,
    },
    /// The client sent more requests than its rate limit allows: 429, with the
    /// seconds to wait in `Retry-After`.
    TooManyRequests {
        retry_after_secs: u64,
    },
    /// Too many requests are in progress on this server: 503 at once (shedding load
    /// rather than queueing it without bound), with `Retry-After`.
    Overloaded,
    /// The request did not complete within the server's limit: 503, with
    /// `Retry-After`. A command may still have been committed.
    HandlerTimeout {
        limit: Duration,
    },
    /// No token, a token that does not verify (401), or a role that may not (403).
    Auth(auth::AuthError),
    /// Anything else: logged, answered opaquely.
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>, field: Option<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
            field,
        }
    }

    /// The problem this error answers.
    pub(crate) fn problem(self) -> Problem {
        use ApiError::*;
        match self {
            Domain(error) => {
                let (status, title) = match error.category() {
                    ErrorCategory::NotFound => (StatusCode::NOT_FOUND, "Not found"),
                    ErrorCategory::AlreadyExists => (StatusCode::CONFLICT, "Already exists"),
                    ErrorCategory::Rule => (StatusCode::UNPROCESSABLE_ENTITY, "Rule violated"),
                };
                Problem::new(status, title, error.code(), error.to_string()).with_field(error.field())
            }
            BadRequest { code, detail, field } => Problem::bad_request(code, detail).with_field(field),
            UnsupportedMediaType => Problem::unsupported_media_type(),
            PayloadTooLarge { limit } => Problem::payload_too_large(limit),
            NotFound { code, detail } => Problem::not_found(code, detail),
            RouteNotFound => Problem::route_not_found("no such endpoint; see /openapi.json"),
            MethodNotAllowed => {
                Problem::method_not_allowed("this endpoint does not accept that method; see /openapi.json")
            }
            VersionMismatch { expected, actual } => Problem::new(
                StatusCode::CONFLICT,
                "Version mismatch",
                "concurrency.version_mismatch",
                format!("If-Match expected version {expected}, but the aggregate is at version {actual}"),
            )
            .with_field("if-match".to_owned()),
            Conflict => Problem::new(
                StatusCode::CONFLICT,
                "Concurrent modification",
                "concurrency.conflict",
                "the aggregate kept being modified concurrently; retry the request",
            ),
            StateConflict { code, detail } => Problem::new(StatusCode::CONFLICT, "Conflict", code, detail),
            NotCaughtUp {
                projection,
                checkpoint,
                requested,
            } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "View not caught up",
                "query.not_caught_up",
                format!(
                    "the '{projection}' view has applied the log up to position {checkpoint}, \
                     not yet {requested}; retry shortly"
                ),
            )
            .with_field("min_position".to_owned())
            .with_view(projection, checkpoint)
            .retry_after(RETRY_SOON),
            IdempotencyKeyReused => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency key reused",
                "idempotency.key_reused",
                "this Idempotency-Key was already used for a different request",
            )
            .with_field("idempotency-key".to_owned()),
            Unavailable { detail } => Problem::unavailable(detail).retry_after(RETRY_SOON),
            RequestTimeout { limit } => Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "Request timeout",
                "request.body_timeout",
                format!(
                    "the request body was not received within {} ms",
                    limit.as_millis()
                ),
            ),
            TooManyRequests { retry_after_secs } => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "request.rate_limited",
                format!("this client sent too many requests; retry in {retry_after_secs} s"),
            )
            .retry_after(retry_after_secs),
            Overloaded => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Overloaded",
                "service.overloaded",
                "too many requests are in progress; retry shortly",
            )
            .retry_after(RETRY_SOON),
            HandlerTimeout { limit } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Timed out",
                "service.timeout",
                format!(
                    "the request did not complete within {} ms; a command may still have been \
                     applied: retry it with the same Idempotency-Key",
                    limit.as_millis()
                ),
            )
            .retry_after(RETRY_SOON),
            Auth(refused) => refused.problem(),
            Internal(cause) => Problem::internal(cause),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.problem().into_response()
    }
}

impl<E: DomainError> From<CommandError<E>> for ApiError {
    fn from(error: CommandError<E>) -> Self {
        match error {
            CommandError::Domain(domain) => ApiError::Domain(Box::new(domain)),
            CommandError::VersionMismatch { expected, actual } => {
                ApiError::VersionMismatch { expected, actual }
            }
            CommandError::Conflict { .. } => ApiError::Conflict,
            CommandError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
            // Answered as the aggregate's own 404 by `commands::refusal`, which every
            // command goes through; any other answer would tell "hidden" from "missing".
            CommandError::NotVisible => {
                ApiError::Internal("a hidden aggregate's refusal skipped commands::refusal".into())
            }
            CommandError::Store(store) => store.into(),
        }
    }
}

impl From<auth::AuthError> for ApiError {
    fn from(error: auth::AuthError) -> Self {
        ApiError::Auth(error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(cause = %error, "database unavailable");
            ApiError::Unavailable {
                detail: problem::DATABASE_UNAVAILABLE.into(),
            }
        } else {
            ApiError::Internal(error.to_string())
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Database(error).into()
    }
}
