//! [`TrackingError`]: every way a tracking request fails, as an RFC 9457
//! `application/problem+json` answer with a stable `code`, in the same shape as the
//! command API's problems (`api/src/error.rs`). Infrastructure failures are logged with
//! their cause and answered opaquely.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The problem details body (RFC 9457), plus the machine-readable `code`.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// `urn:alpes:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem (the same for every occurrence).
    pub title: String,
    pub status: u16,
    /// What went wrong this time, for a human.
    pub detail: String,
    /// Stable machine-readable code, e.g. `tracking.campaign_not_active`.
    pub code: String,
    /// The offending request field as a JSON path (`value.currency`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug)]
pub enum TrackingError {
    /// Malformed request: not JSON, wrong types, unknown fields.
    BadRequest {
        code: &'static str,
        detail: String,
        field: Option<String>,
    },
    UnsupportedMediaType,
    PayloadTooLarge {
        limit: usize,
    },
    /// Well-formed, but refused by a rule (422): the partner does not take part in an active
    /// campaign, an invalid amount, ...
    Refused {
        code: &'static str,
        detail: String,
        field: Option<String>,
    },
    NotFound {
        code: &'static str,
        detail: String,
    },
    RouteNotFound,
    MethodNotAllowed,
    /// The database is unreachable.
    Unavailable,
    /// Anything else: logged, answered opaquely.
    Internal(String),
}

impl TrackingError {
    pub fn refused(code: &'static str, detail: impl Into<String>, field: Option<&str>) -> Self {
        Self::Refused {
            code,
            detail: detail.into(),
            field: field.map(str::to_owned),
        }
    }

    fn parts(self) -> (StatusCode, &'static str, String, String, Option<String>) {
        use TrackingError::*;
        match self {
            BadRequest { code, detail, field } => (
                StatusCode::BAD_REQUEST,
                "Malformed request",
                code.into(),
                detail,
                field,
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
            Refused { code, detail, field } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Rule violated",
                code.into(),
                detail,
                field,
            ),
            NotFound { code, detail } => (StatusCode::NOT_FOUND, "Not found", code.into(), detail, None),
            RouteNotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "request.unknown_route".into(),
                "no such endpoint".into(),
                None,
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                "request.method_not_allowed".into(),
                "this endpoint does not accept that method".into(),
                None,
            ),
            Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                "service.unavailable".into(),
                "the database is unavailable; retry later".into(),
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

impl From<sqlx::Error> for TrackingError {
    fn from(error: sqlx::Error) -> Self {
        // The database's own trouble (down, read-only, ...) is a 503; data it refuses
        // here would be a defect (input is checked first), logged as a 500.
        if !store::DbFault::of(&error).is_the_datas() {
            tracing::warn!(cause = %error, "database unavailable");
            TrackingError::Unavailable
        } else {
            TrackingError::Internal(error.to_string())
        }
    }
}

impl IntoResponse for TrackingError {
    fn into_response(self) -> Response {
        if let TrackingError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let (status, title, code, detail, field) = self.parts();
        let problem = Problem {
            problem_type: format!("urn:alpes:problem:{code}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            code,
            field,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
