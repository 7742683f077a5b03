//! [`TrackingError`]: every way a tracking request fails, and which RFC 9457 problem
//! (`application/problem+json` with a stable `code`: the `problem` crate's [`Problem`],
//! the command API's shape) each one answers. Infrastructure failures are logged with
//! their cause and answered opaquely.

use axum::response::{IntoResponse, Response};
use problem::Problem;

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

    /// The problem this error answers.
    pub(crate) fn problem(self) -> Problem {
        use TrackingError::*;
        match self {
            BadRequest { code, detail, field } => Problem::bad_request(code, detail).with_field(field),
            UnsupportedMediaType => Problem::unsupported_media_type(),
            PayloadTooLarge { limit } => Problem::payload_too_large(limit),
            Refused { code, detail, field } => Problem::rule_violated(code, detail).with_field(field),
            NotFound { code, detail } => Problem::not_found(code, detail),
            RouteNotFound => Problem::route_not_found("no such endpoint"),
            MethodNotAllowed => Problem::method_not_allowed("this endpoint does not accept that method"),
            // Without `Retry-After`, as it always answered (unlike the command API's 503s):
            // adding one would change what clients see.
            Unavailable => Problem::unavailable(problem::DATABASE_UNAVAILABLE),
            Internal(cause) => Problem::internal(cause),
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
        self.problem().into_response()
    }
}
