//! What every query endpoint shares: query-string parsing with problem answers,
//! page parameters, and read-your-writes (`min_position`).

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

/// Default and largest page size of the list endpoints.
pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// The query string, parsed into `T`; unknown or malformed parameters are a 400
/// problem (axum's own rejection is plain text).
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A NUL is valid in a URL but no text column can hold or match it.
        if parts
            .uri
            .query()
            .is_some_and(|query| query.to_ascii_lowercase().contains("%00"))
        {
            return Err(ApiError::bad_request(
                "query.invalid_parameter",
                "query parameters cannot contain NUL characters",
                None,
            ));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| QueryParams(params))
            .map_err(|rejection| {
                ApiError::bad_request("query.invalid_parameter", rejection.body_text(), None)
            })
    }
}

/// The longest search text a list accepts, in characters: longer than any name the
/// commands accept, and far below what a database refuses to match (SQLite gives up
/// on LIKE patterns over 50,000 bytes).
pub const MAX_SEARCH_CHARS: usize = 200;

/// A search text (`q`): empty means no search; too long is a 400.
pub fn search(text: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    match text {
        Some(text) if text.chars().count() > MAX_SEARCH_CHARS => Err(ApiError::bad_request(
            "query.invalid_parameter",
            format!("{field} is longer than {MAX_SEARCH_CHARS} characters"),
            Some(field.to_owned()),
        )),
        Some(text) if text.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// `min_position`, accepted by every query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Consistency {
    /// Read your writes: wait (up to the consistency timeout) until the views this
    /// query reads have applied the event at this global position (the `position` a
    /// command answered); 503 with `Retry-After` if they have not by then. A position
    /// beyond the end of the log was never handed out: 400.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

/// Waits until `projections` have applied `min_position`, if one was asked for.
pub async fn read_your_writes(
    state: &AppState,
    projections: &[&str],
    min_position: Option<i64>,
) -> Result<(), ApiError> {
    let Some(position) = check_position(state, min_position).await? else {
        return Ok(());
    };
    let waited = state
        .projections
        .wait_until_applied(projections, position, state.consistency_timeout)
        .await?;
    waited.map_err(|late| ApiError::NotCaughtUp {
        projection: late.projection,
        checkpoint: late.checkpoint,
        requested: position,
    })
}

/// Validates `min_position` without waiting: a position a command could have answered
/// (`>= 0`, and not beyond the end of the log), else a 400.
pub async fn check_position(state: &AppState, min_position: Option<i64>) -> Result<Option<i64>, ApiError> {
    let Some(position) = min_position else {
        return Ok(None);
    };
    if position < 0 {
        return Err(ApiError::bad_request(
            "query.invalid_min_position",
            "min_position must be a position a command answered (>= 0)",
            Some("min_position".into()),
        ));
    }
    // Every position a command answered is in the log already; one beyond its end was
    // never handed out, and waiting for it would only end in a timeout.
    let head = state.db.head_position().await?;
    if position > head {
        return Err(ApiError::bad_request(
            "query.invalid_min_position",
            format!("min_position {position} is beyond the end of the log ({head})"),
            Some("min_position".into()),
        ));
    }
    Ok(Some(position))
}

/// Validates a page size (default [`DEFAULT_LIMIT`], 1 to [`MAX_LIMIT`]).
pub fn limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        limit @ 1..=MAX_LIMIT => Ok(limit),
        other => Err(ApiError::bad_request(
            "query.invalid_limit",
            format!("limit must be between 1 and {MAX_LIMIT}, not {other}"),
            Some("limit".into()),
        )),
    }
}

/// Validates a page cursor: the `next_cursor` of a previous page (an id), in the
/// form ids are stored and compared in.
pub fn cursor(cursor: Option<String>) -> Result<Option<String>, ApiError> {
    match cursor.map(|cursor| Uuid::parse_str(&cursor)) {
        None => Ok(None),
        Some(Ok(id)) => Ok(Some(id.to_string())),
        Some(Err(_)) => Err(ApiError::bad_request(
            "query.invalid_cursor",
            "cursor must be the next_cursor of a previous page",
            Some("cursor".into()),
        )),
    }
}

/// Parses an enum-valued filter, or answers 400 naming the accepted values.
pub fn filter<T>(
    value: Option<String>,
    field: &'static str,
    parse: impl Fn(&str) -> Option<T>,
    accepted: &str,
) -> Result<Option<T>, ApiError> {
    value
        .map(|value| {
            parse(&value).ok_or_else(|| {
                ApiError::bad_request(
                    "query.invalid_filter",
                    format!("{field} '{value}' is not one of: {accepted}"),
                    Some(field.into()),
                )
            })
        })
        .transpose()
}
