//! The seed's routes: each reads its body as the seed's clients send it, accepts the
//! command it becomes, and answers `202` (or, with `Prefer: wait`, the outcome).

use crate::access::{self, Visible};
use crate::campaigns::queries::{
    self as campaign_queries, CampaignPage, CampaignResponse, ListCampaignsQuery,
};
use crate::error::{ApiError, Problem};
use crate::extract::{Addressable, AggregateId, CommandRequest, LegacyJson, NoBody};
use crate::reads::{Consistency, QueryParams};
use crate::state::AppState;
use aggregates::campaign::Campaign;
use auth::{Principal, Role};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use contract::v1::commands::Command;
use std::time::Duration;
use store::{CommandOptions, CommandStatus, Submitted};
use utoipa::{IntoParams, IntoResponses};
use uuid::Uuid;

use super::bodies::{self, SeedCampaign, SeedConversion, SeedPartner};
use super::outcomes::{CommandReceipt, CommandStatusResponse};

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
    /// A request with the same `Idempotency-Key` was being submitted at the same time.
    #[response(status = 409)]
    Conflict(Problem),
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
    /// A request with the same `Idempotency-Key` was being submitted at the same time.
    #[response(status = 409)]
    Conflict(Problem),
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
    principal: &Principal,
) -> Result<Response, ApiError> {
    let submitted = state.commands.submit(command, options, principal).await?;
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
pub(crate) async fn seed_create_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: CommandRequest<LegacyJson<SeedCampaign>>,
) -> Result<Response, ApiError> {
    let LegacyJson(body) = request.body;
    access::may_create_for_brand(&request.principal, &body.marca_id)?;
    accept(
        &state,
        &headers,
        body.command(),
        request.options,
        &request.principal,
    )
    .await
}

/// The same as `POST /crear-campaign` (the name the seed's code served).
#[utoipa::path(post, path = "/registrar-campaign", tag = "seed", request_body = SeedCampaign,
    params(SeedHeaders),
    responses(SeedCommandAnswers))]
pub(crate) async fn seed_register_campaign(
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
pub(crate) async fn seed_create_partner(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: CommandRequest<LegacyJson<SeedPartner>>,
) -> Result<Response, ApiError> {
    let LegacyJson(body) = request.body;
    accept(
        &state,
        &headers,
        body.command(),
        request.options,
        &request.principal,
    )
    .await
}

/// The same as `POST /crear-partner` (the name the seed's code served).
#[utoipa::path(post, path = "/registrar-partner", tag = "seed", request_body = SeedPartner,
    params(SeedHeaders),
    responses(SeedCommandAnswers))]
pub(crate) async fn seed_register_partner(
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
pub(crate) async fn seed_register_conversion(
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
    accept(
        &state,
        &headers,
        body.command(),
        request.options,
        &request.principal,
    )
    .await
}

/// Cancels a campaign (topic `comando-cancelar-campaign`); the seed's clients delete with
/// a `GET`.
#[utoipa::path(get, path = "/eliminar-campaign/{id}", tag = "seed",
    params(("id" = Uuid, Path, description = "Campaign id"), SeedHeaders),
    responses(CancelAnswers))]
pub(crate) async fn seed_cancel_campaign(
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
    let campaign_id = id.uuid()?;
    // A campaign the caller may not see is a 404 now, as on the native routes (the run
    // checks again: a command may also come from its topic).
    if !matches!(request.principal.role, Role::Admin) {
        let id = campaign_id.to_string();
        let visible = state
            .campaigns
            .load(&id)
            .await?
            .is_some_and(|campaign| campaign.visible_to(&id, &request.principal));
        if !visible {
            return Err(Campaign::absent());
        }
    }
    accept(
        &state,
        &headers,
        bodies::cancel_campaign(campaign_id),
        request.options,
        &request.principal,
    )
    .await
}

/// The same as `GET /eliminar-campaign/{id}`.
#[utoipa::path(delete, path = "/eliminar-campaign/{id}", tag = "seed",
    params(("id" = Uuid, Path, description = "Campaign id"), SeedHeaders),
    responses(CancelAnswers))]
pub(crate) async fn seed_delete_campaign(
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
pub(crate) async fn seed_list_campaigns(
    state: State<AppState>,
    principal: Principal,
    query: QueryParams<ListCampaignsQuery>,
) -> Result<Json<CampaignPage>, ApiError> {
    campaign_queries::list_campaigns(state, principal, query).await
}

/// One campaign: `GET /campaigns/{id}` under the name the seed's BFF proxied it.
#[utoipa::path(get, path = "/obtener-campaigns/{id}", tag = "seed",
    params(("id" = Uuid, Path, description = "Campaign id"), Consistency),
    responses((status = 200, body = CampaignResponse), (status = 400, body = Problem), (status = 404, body = Problem),
        (status = 503, description = "min_position not reached in time", body = Problem)))]
pub(crate) async fn seed_get_campaign(
    state: State<AppState>,
    principal: Principal,
    id: AggregateId<Campaign>,
    query: QueryParams<Consistency>,
) -> Result<Json<CampaignResponse>, ApiError> {
    campaign_queries::get_campaign(state, principal, id, query).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::desk::MAX_WAIT;

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
