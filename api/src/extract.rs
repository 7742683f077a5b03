//! Extractors that turn every malformed request into an [`ApiError`] problem
//! (axum's own rejections answer in plain text, with 422 for wrong types): command
//! requests ([`CommandRequest`]: JSON body, `If-Match`, `Idempotency-Key`), path
//! parameters by name ([`PathParams`]) and aggregate ids ([`AggregateId`]).

use crate::error::ApiError;
use auth::Principal;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use observability::{TraceContext, TRACEPARENT};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::marker::PhantomData;
use store::{CommandOptions, IdempotencyClaim};
use uuid::Uuid;

/// Largest accepted request body; larger ones get a 413 problem.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest accepted `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A command request: its JSON body (when the endpoint takes one), the options its
/// headers ask for (`If-Match`, `Idempotency-Key`), and who sends it, whom the events
/// it causes name in their metadata (the audit trail).
pub struct CommandRequest<T> {
    pub body: T,
    pub options: CommandOptions,
    pub principal: Principal,
    /// The request's place in its trace: its events carry it (`traceparent` in their
    /// metadata), and so does a seed command it queues.
    pub trace: TraceContext,
}

/// Marker body for commands that take none (`POST /campaigns/{id}/activate`): any
/// body sent is ignored and takes no part in the idempotency fingerprint.
#[derive(Debug, Default)]
pub struct NoBody;

/// How a command body is read from the request.
pub trait CommandBody: Sized {
    /// Parses the body; returns it and its canonical form for the fingerprint.
    fn parse(headers: &HeaderMap, bytes: &[u8]) -> Result<(Self, String), ApiError>;
}

impl CommandBody for NoBody {
    fn parse(_: &HeaderMap, _: &[u8]) -> Result<(Self, String), ApiError> {
        Ok((NoBody, String::new()))
    }
}

/// Any JSON body type, sent as `application/json` or `application/*+json` (else 415),
/// read by `parse_object`.
impl<T: DeserializeOwned> CommandBody for Json<T> {
    fn parse(headers: &HeaderMap, bytes: &[u8]) -> Result<(Self, String), ApiError> {
        if !is_json_content_type(headers) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_object(bytes).map(|(body, canonical)| (Json(body), canonical))
    }
}

/// A JSON body of the seed system's clients (the routes of `crate::seed`), read as
/// [`Json`] is, but under any JSON-ish content type, misspelt ones included (the seed's
/// documents send `aplication/json`), or none: those clients cannot be changed.
pub struct LegacyJson<T>(pub T);

impl<T: DeserializeOwned> CommandBody for LegacyJson<T> {
    fn parse(headers: &HeaderMap, bytes: &[u8]) -> Result<(Self, String), ApiError> {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if content_type.is_some_and(|value| !value.to_ascii_lowercase().contains("json")) {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_object(bytes).map(|(body, canonical)| (LegacyJson(body), canonical))
    }
}

/// A JSON object body: parsed first into a `serde_json::Value` (syntax errors: 400
/// `request.malformed_json`), then into `T` (type errors: 400 `request.invalid_field`
/// naming the field). The `Value`'s compact form, with keys sorted, is the
/// canonical body: two requests that differ only in spacing or key order are the same.
fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, String), ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::bad_request(
            "request.malformed_json",
            format!("the body is not valid JSON: {error}"),
            None,
        )
    })?;
    if !value.is_object() {
        // serde would read a struct from an array too; a body is an object.
        return Err(ApiError::bad_request(
            "request.invalid_body",
            "the body must be a JSON object",
            None,
        ));
    }
    let canonical = value.to_string();
    let body = serde_path_to_error::deserialize(value).map_err(|error| {
        let field = offending_field(error.path(), &error.inner().to_string());
        let detail = match &field {
            Some(field) => format!("{field}: {}", error.inner()),
            None => error.inner().to_string(),
        };
        ApiError::bad_request("request.invalid_field", detail, field)
    })?;
    Ok((body, canonical))
}

/// The JSON path of the field a body error is about. serde reports a missing field
/// at its parent's path, naming the field only in the message (``missing field `x` ``).
fn offending_field(path: &serde_path_to_error::Path, message: &str) -> Option<String> {
    let parent = path.to_string();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (parent.as_str(), missing) {
        (".", Some(missing)) => Some(missing.to_owned()),
        (parent, Some(missing)) => Some(format!("{parent}.{missing}")),
        (".", None) => None,
        (parent, None) => Some(parent.to_owned()),
    }
}

/// A JSON body (the parsed value). Used through [`CommandRequest`].
pub struct Json<T>(pub T);

/// `application/json`, or any `application/<something>+json`, with any parameters.
fn is_json_content_type(headers: &HeaderMap) -> bool {
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

impl<S, T> FromRequest<S> for CommandRequest<T>
where
    S: Send + Sync,
    T: CommandBody,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let headers = request.headers().clone();
        let principal = request.extensions().get::<Principal>().cloned().ok_or_else(|| {
            ApiError::Internal("a command route is not behind the authentication guard".into())
        })?;
        let trace = observability::http::trace_of(&request);
        let expected_version = if_match(&headers)?;
        let idempotency_key = idempotency_key(&headers)?;

        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit: MAX_BODY_BYTES,
                }
            } else {
                ApiError::bad_request("request.unreadable_body", rejection.body_text(), None)
            }
        })?;
        let (body, canonical) = T::parse(&headers, &bytes)?;

        let idempotency = idempotency_key.map(|key| IdempotencyClaim {
            key,
            request_hash: fingerprint(&method, &path, &canonical, &principal),
        });
        let options = CommandOptions {
            expected_version,
            idempotency,
            metadata: principal
                .audit_metadata()
                .into_iter()
                .chain([(TRACEPARENT.to_owned(), trace.to_string())])
                .collect(),
            ..CommandOptions::default()
        };
        Ok(CommandRequest {
            body,
            options,
            principal,
            trace,
        })
    }
}

/// SHA-256 of what makes two requests "the same request" for an idempotency key: the
/// same request by the same principal (subject, role, brand, partner: the same user's
/// token for another brand is another principal). Anyone else's request under the same
/// key is refused, never answered with the first one's outcome.
fn fingerprint(method: &Method, path: &str, canonical_body: &str, principal: &Principal) -> Vec<u8> {
    let principal = serde_json::to_string(principal).unwrap_or_default();
    let mut hasher = Sha256::new();
    for part in [method.as_str(), path, canonical_body, principal.as_str()] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().to_vec()
}

/// `If-Match: "N"` (an ETag as this API sends them). `*` means "any version".
fn if_match(headers: &HeaderMap) -> Result<Option<usize>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::bad_request(
            "request.invalid_if_match",
            "If-Match must be an aggregate version as an ETag, e.g. \"3\"",
            Some("if-match".into()),
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let version = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    version.parse().map(Some).map_err(|_| invalid())
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().ok().map(str::trim).filter(|key| {
        !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
    });
    match key {
        Some(key) => Ok(Some(key.to_owned())),
        None => Err(ApiError::bad_request(
            "request.invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"),
            Some("idempotency-key".into()),
        )),
    }
}

/// Path parameters read by name into `T`, a struct with a field per `{name}` of the
/// route (through axum's `Path`), with a problem answer when the path is not decodable
/// (axum's own rejection is plain text): 400 `request.invalid_path`.
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(params)| PathParams(params))
            .map_err(|rejection| ApiError::bad_request("request.invalid_path", rejection.body_text(), None))
    }
}

/// An aggregate the API addresses by the `{id}` of its paths (`/campaigns/{id}`).
pub trait Addressable {
    /// What clients call it, in problem details: `campaign`.
    const NAME: &'static str;
    /// The code of the 404 for an id that names none: `campaign.not_found`.
    const NOT_FOUND: &'static str;

    /// The 404 for `id`, which names none.
    fn not_found(id: &str) -> ApiError {
        ApiError::NotFound {
            code: Self::NOT_FOUND,
            detail: format!("no {} with id '{id}'", Self::NAME),
        }
    }

    /// The 404 the domain answers to a command on an aggregate that does not exist,
    /// word for word: the answer to one the caller may not see.
    fn absent() -> ApiError {
        ApiError::NotFound {
            code: Self::NOT_FOUND,
            detail: format!("no {} exists with this id", Self::NAME),
        }
    }
}

/// The `{id}` of a route, read by name: the id of an `A` (a campaign, a partner).
///
/// A path that is not decodable is refused at once, like any malformed path (400
/// `request.invalid_path`). An id that is not a UUID is well-formed but names no `A`:
/// [`AggregateId::uuid`] answers the same 404 as for an unknown id, when the handler
/// looks the aggregate up, so that a malformed header, query or body is still reported
/// first (a 400 or 415 before the 404, as for an unknown id).
pub struct AggregateId<A> {
    raw: String,
    id: Option<Uuid>,
    // `fn() -> A`: the id is `Send` and `Sync` whatever `A` is; it holds no `A`.
    aggregate: PhantomData<fn() -> A>,
}

impl<A: Addressable> AggregateId<A> {
    /// The id, or the 404 when it is not a UUID (ids are UUIDs: it names nothing).
    /// Its `Display` is the lowercase hyphenated form aggregates are stored under.
    pub fn uuid(&self) -> Result<Uuid, ApiError> {
        self.id.ok_or_else(|| A::not_found(&self.raw))
    }
}

impl<S, A> FromRequestParts<S> for AggregateId<A>
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        #[derive(Deserialize)]
        struct IdParam {
            id: String,
        }
        let PathParams(IdParam { id: raw }) = PathParams::from_request_parts(parts, state).await?;
        Ok(AggregateId {
            id: Uuid::parse_str(&raw).ok(),
            raw,
            aggregate: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json_content_type(&headers(&[(
            "content-type",
            "application/json"
        )])));
        assert!(is_json_content_type(&headers(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )])));
        assert!(is_json_content_type(&headers(&[(
            "content-type",
            "application/merge-patch+json"
        )])));
        assert!(!is_json_content_type(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json_content_type(&headers(&[])));
    }

    #[test]
    fn if_match_accepts_etags_and_star() {
        assert_eq!(if_match(&headers(&[("if-match", "\"3\"")])).unwrap(), Some(3));
        assert_eq!(if_match(&headers(&[("if-match", "7")])).unwrap(), Some(7));
        assert_eq!(if_match(&headers(&[("if-match", "*")])).unwrap(), None);
        assert!(if_match(&headers(&[("if-match", "\"abc\"")])).is_err());
        assert!(if_match(&headers(&[("if-match", "\"-1\"")])).is_err());
    }

    #[test]
    fn idempotency_keys_must_be_visible_ascii() {
        assert_eq!(
            idempotency_key(&headers(&[("idempotency-key", "abc-123")])).unwrap(),
            Some("abc-123".into())
        );
        assert!(idempotency_key(&headers(&[("idempotency-key", "has space")])).is_err());
        assert!(idempotency_key(&headers(&[("idempotency-key", "")])).is_err());
    }

    #[test]
    fn the_fingerprint_ignores_key_order_and_spacing_but_not_the_path_or_the_principal() {
        let canonical = |body: &str| {
            serde_json::from_str::<serde_json::Value>(body)
                .unwrap()
                .to_string()
        };
        let alice = Principal::brand("alice", "b-1");
        let post = |path: &str, body: &str, principal: &Principal| {
            fingerprint(&Method::POST, path, &canonical(body), principal)
        };
        let a = post("/partners", r#"{"a":1, "b":2}"#, &alice);
        assert_eq!(a, post("/partners", r#"{ "b":2,"a":1 }"#, &alice));
        assert_ne!(a, post("/campaigns", r#"{"a":1, "b":2}"#, &alice));
        // The same user with a token for another brand is another principal.
        assert_ne!(
            a,
            post(
                "/partners",
                r#"{"a":1, "b":2}"#,
                &Principal::brand("alice", "b-2")
            )
        );
    }
}
