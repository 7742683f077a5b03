//! [`JsonBody`]: a JSON request body whose every flaw is a problem answer (axum's own
//! `Json` answers in plain text, with 422 for wrong types).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::problem::TrackingError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A JSON object body: syntax errors are 400 `request.malformed_json`, type errors 400
/// `request.invalid_field` naming the field.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = TrackingError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(TrackingError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                TrackingError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                }
            } else {
                TrackingError::BadRequest {
                    code: "request.unreadable_body",
                    detail: rejection.body_text(),
                    field: None,
                }
            }
        })?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|error| TrackingError::BadRequest {
                code: "request.malformed_json",
                detail: format!("the body is not valid JSON: {error}"),
                field: None,
            })?;
        if !value.is_object() {
            return Err(TrackingError::BadRequest {
                code: "request.invalid_body",
                detail: "the body must be a JSON object".into(),
                field: None,
            });
        }
        let body = serde_path_to_error::deserialize(value).map_err(|error| {
            let field = error.path().to_string();
            TrackingError::BadRequest {
                code: "request.invalid_field",
                detail: format!("{field}: {}", error.inner()),
                field: (field != ".").then_some(field),
            }
        })?;
        Ok(JsonBody(body))
    }
}

/// `application/json` or `application/<something>+json`, with any parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}
