//! [`ApiError`]: every way a request can fail, turned into an RFC 9457
//! `application/problem+json` answer in one place.
//!
//! Client mistakes and domain refusals become 4xx problems with a stable `code`
//! (and the offending `field` when there is one). Infrastructure failures are logged
//! with their cause and answered opaquely: the client learns that it failed, not why.

use aggregates::error::{DomainError, ErrorCategory};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;
use store::{CommandError, StoreError};
use utoipa::ToSchema;

/// The problem details body (RFC 9457), plus our machine-readable `code`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:alpes:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem (the same for every occurrence).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for a human.
    pub detail: String,
    /// Stable machine-readable code, e.g. `campaign.invalid_transition`.
    pub code: String,
    /// The offending request field as a JSON path (`budget.currency`,
    /// `participants[1].kind`), or header name, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// With `query.not_caught_up`: the view that is behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection: Option<String>,
    /// With `query.not_caught_up`: the global position that view has applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<i64>,
}

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

    fn parts(&self) -> (StatusCode, &'static str, String, String, Option<String>) {
        use ApiError::*;
        match self {
            Domain(error) => {
                let (status, title) = match error.category() {
                    ErrorCategory::NotFound => (StatusCode::NOT_FOUND, "Not found"),
                    ErrorCategory::AlreadyExists => (StatusCode::CONFLICT, "Already exists"),
                    ErrorCategory::Rule => (StatusCode::UNPROCESSABLE_ENTITY, "Rule violated"),
                };
                (
                    status,
                    title,
                    error.code().into(),
                    error.to_string(),
                    error.field(),
                )
            }
            BadRequest { code, detail, field } => (
                StatusCode::BAD_REQUEST,
                "Malformed request",
                (*code).into(),
                detail.clone(),
                field.clone(),
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                "request.unsupported_media_type".into(),
                "the request body must be JSON, sent with Content-Type: application/json".into(),
                Some("content-type".into()),
            ),
            PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                "request.body_too_large".into(),
                format!("the request body is larger than {limit} bytes"),
                None,
            ),
            NotFound { code, detail } => (
                StatusCode::NOT_FOUND,
                "Not found",
                (*code).into(),
                detail.clone(),
                None,
            ),
            RouteNotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "request.unknown_route".into(),
                "no such endpoint; see /openapi.json".into(),
                None,
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "request.method_not_allowed".into(),
                "this endpoint does not accept that method; see /openapi.json".into(),
                None,
            ),
            VersionMismatch { expected, actual } => (
                StatusCode::CONFLICT,
                "Version mismatch",
                "concurrency.version_mismatch".into(),
                format!("If-Match expected version {expected}, but the aggregate is at version {actual}"),
                Some("if-match".into()),
            ),
            Conflict => (
                StatusCode::CONFLICT,
                "Concurrent modification",
                "concurrency.conflict".into(),
                "the aggregate kept being modified concurrently; retry the request".into(),
                None,
            ),
            StateConflict { code, detail } => (
                StatusCode::CONFLICT,
                "Conflict",
                (*code).into(),
                detail.clone(),
                None,
            ),
            NotCaughtUp {
                projection,
                checkpoint,
                requested,
            } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "View not caught up",
                "query.not_caught_up".into(),
                format!(
                    "the '{projection}' view has applied the log up to position {checkpoint}, \
                     not yet {requested}; retry shortly"
                ),
                Some("min_position".into()),
            ),
            IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency key reused",
                "idempotency.key_reused".into(),
                "this Idempotency-Key was already used for a different request".into(),
                Some("idempotency-key".into()),
            ),
            Unavailable { detail } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "service.unavailable".into(),
                detail.clone(),
                None,
            ),
            RequestTimeout { limit } => (
                StatusCode::REQUEST_TIMEOUT,
                "Request timeout",
                "request.body_timeout".into(),
                format!(
                    "the request body was not received within {} ms",
                    limit.as_millis()
                ),
                None,
            ),
            TooManyRequests { retry_after_secs } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "request.rate_limited".into(),
                format!("this client sent too many requests; retry in {retry_after_secs} s"),
                None,
            ),
            Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Overloaded",
                "service.overloaded".into(),
                "too many requests are in progress; retry shortly".into(),
                None,
            ),
            HandlerTimeout { limit } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Timed out",
                "service.timeout".into(),
                format!(
                    "the request did not complete within {} ms; a command may still have been \
                     applied: retry it with the same Idempotency-Key",
                    limit.as_millis()
                ),
                None,
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                "service.internal_error".into(),
                "the request could not be completed; it has been logged".into(),
                None,
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let (status, title, code, detail, field) = self.parts();
        let (projection, checkpoint) = match &self {
            ApiError::NotCaughtUp {
                projection,
                checkpoint,
                ..
            } => (Some((*projection).to_owned()), Some(*checkpoint)),
            _ => (None, None),
        };
        let problem = Problem {
            projection,
            checkpoint,
            problem_type: format!("urn:alpes:problem:{code}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            code,
            field,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::TooManyRequests { retry_after_secs } = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            // Views catch up in milliseconds, databases come back, load passes: try
            // again soon.
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
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
            CommandError::Store(store) => store.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let unavailable = match &error {
            StoreError::Unavailable(_) => true,
            StoreError::Database(error) => StoreError::is_unreachable(error),
            _ => false,
        };
        if unavailable {
            tracing::warn!(cause = %error, "database unavailable");
            ApiError::Unavailable {
                detail: "the database is unavailable; retry later".into(),
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
