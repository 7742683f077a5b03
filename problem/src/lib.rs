//! RFC 9457 problem details: the one shape of every error answer of both HTTP
//! services (`api` and `tracking`), written once so that they cannot drift apart.
//!
//! A [`Problem`] is an `application/problem+json` body with a stable machine-readable
//! `code` (its `type` is `urn:alpes:problem:<code>`), built from a status and a kind,
//! then answered as a response:
//!
//! ```
//! use axum::response::IntoResponse;
//! use problem::Problem;
//!
//! let response = Problem::bad_request("request.invalid_field", "name: invalid type")
//!     .with_field("name".to_owned())
//!     .into_response();
//! assert_eq!(response.status(), 400);
//! assert_eq!(response.headers()["content-type"], "application/problem+json");
//! ```
//!
//! Each service keeps its own error enum (`api::ApiError`, `tracking`'s
//! `TrackingError`) that says which problem each of its failures is; this crate says
//! what a problem looks like on the wire.
//!
//! # Layout
//! - [`Problem`]: the body (also the `Problem` schema of the api's OpenAPI document),
//!   its builder methods, and its response (content type, `Retry-After` when set).
//! - The kinds both services answer alike: [`Problem::bad_request`],
//!   [`Problem::unsupported_media_type`], [`Problem::payload_too_large`],
//!   [`Problem::not_found`], [`Problem::rule_violated`], [`Problem::route_not_found`],
//!   [`Problem::method_not_allowed`], [`Problem::unavailable`] and the opaque
//!   [`Problem::internal`], which logs its cause.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::{Serialize, Serializer};
use std::fmt::Display;
use utoipa::ToSchema;

/// The status of a [`Problem`], re-exported so that crates without an HTTP server (the
/// bus's command consumers) can build one.
pub use axum::http::StatusCode;

/// The media type of every problem answer.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// The detail of a 503 when the database cannot be reached (both services say the same).
pub const DATABASE_UNAVAILABLE: &str = "the database is unavailable; retry later";

/// The problem details body (RFC 9457), plus our machine-readable `code`.
//
// The field order is the order of the JSON keys clients see; the doc comments are the
// descriptions of the OpenAPI schema (`GET /openapi.json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[must_use = "a problem does nothing until it is answered (`into_response`)"]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:alpes:problem:<code>`.
    #[serde(rename = "type")]
    problem_type: String,
    /// Short summary of the kind of problem (the same for every occurrence).
    title: String,
    /// The HTTP status code.
    // Kept as a `StatusCode` (the response's status), written as its number.
    #[serde(serialize_with = "status_number")]
    #[schema(value_type = u16)]
    status: StatusCode,
    /// What went wrong this time, for a human.
    detail: String,
    /// Stable machine-readable code, e.g. `campaign.invalid_transition`.
    code: String,
    /// The offending request field as a JSON path (`budget.currency`,
    /// `participants[1].kind`), or header name, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// With `query.not_caught_up`: the view that is behind.
    #[serde(skip_serializing_if = "Option::is_none")]
    projection: Option<String>,
    /// With `query.not_caught_up`: the global position that view has applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<i64>,
    // A header of the answer, not part of the body (nor of the schema).
    #[serde(skip)]
    retry_after: Option<u64>,
    // With 401 and 403: the `WWW-Authenticate` challenge (RFC 6750), a header too.
    #[serde(skip)]
    challenge: Option<String>,
}

impl Problem {
    /// A problem with `status`, the `title` of its kind (the same for every
    /// occurrence), its stable `code`, and what went wrong this time.
    pub fn new(status: StatusCode, title: &str, code: &str, detail: impl Into<String>) -> Self {
        Problem {
            problem_type: format!("urn:alpes:problem:{code}"),
            title: title.to_owned(),
            status,
            detail: detail.into(),
            code: code.to_owned(),
            field: None,
            projection: None,
            checkpoint: None,
            retry_after: None,
            challenge: None,
        }
    }

    /// Names the offending request field (a JSON path) or header, when there is one.
    pub fn with_field(mut self, field: impl Into<Option<String>>) -> Self {
        self.field = field.into();
        self
    }

    /// Names the view that is behind and the position it has applied
    /// (`query.not_caught_up`).
    pub fn with_view(mut self, projection: &str, checkpoint: i64) -> Self {
        self.projection = Some(projection.to_owned());
        self.checkpoint = Some(checkpoint);
        self
    }

    /// Tells the client to retry after `seconds`, in a `Retry-After` header.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Tells the client how to authenticate, in a `WWW-Authenticate` header
    /// (`Bearer realm="alpes", error="invalid_token"`).
    pub fn with_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.challenge = Some(challenge.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 400: a malformed request (syntax, types, a header, the path).
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Malformed request", code, detail)
    }

    /// 415: the body is not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "request.unsupported_media_type",
            "the request body must be JSON, sent with Content-Type: application/json",
        )
        .with_field("content-type".to_owned())
    }

    /// 413: the body is larger than `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload too large",
            "request.body_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 404: what the request names does not exist.
    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", code, detail)
    }

    /// 422: well-formed, but refused by a rule.
    pub fn rule_violated(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Rule violated", code, detail)
    }

    /// 404: no route matches the path.
    pub fn route_not_found(detail: impl Into<String>) -> Self {
        Self::not_found("request.unknown_route", detail)
    }

    /// 405: the route does not take that method.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "request.method_not_allowed",
            detail,
        )
    }

    /// 503: a dependency (the database) cannot be reached.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service unavailable",
            "service.unavailable",
            detail,
        )
    }

    /// 500, opaque: the client learns that the request failed, not why; the `cause`
    /// goes to the log (at `error`), where an operator can act on it.
    pub fn internal(cause: impl Display) -> Self {
        tracing::error!(%cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "service.internal_error",
            "the request could not be completed; it has been logged",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let challenge = self.challenge.clone();
        let mut response = (self.status, axum::Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

fn status_number<S: Serializer>(status: &StatusCode, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u16(status.as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_rfc_9457_members_then_ours_and_no_empty_ones() {
        let problem = Problem::bad_request("request.invalid_field", "name: invalid type")
            .with_field("name".to_owned())
            .retry_after(3);
        let body = serde_json::to_string(&problem).unwrap();
        assert_eq!(
            body,
            r#"{"type":"urn:alpes:problem:request.invalid_field","title":"Malformed request","status":400,"detail":"name: invalid type","code":"request.invalid_field","field":"name"}"#
        );
    }

    #[test]
    fn retry_after_is_a_header_only_when_set() {
        let response = Problem::unavailable(DATABASE_UNAVAILABLE)
            .retry_after(1)
            .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        let response = Problem::unavailable(DATABASE_UNAVAILABLE).into_response();
        assert!(!response.headers().contains_key(header::RETRY_AFTER));
    }
}
