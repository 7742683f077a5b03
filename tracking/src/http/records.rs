//! `POST /tracking/clicks` and `POST /tracking/conversions`.
//!
//! A click or conversion is recorded only for a partner taking part in an active campaign,
//! as known from the events consumed (422 otherwise). A repeated `external_id` answers the
//! first record, unchanged, and records nothing: clients retry safely.

use aggregates::error::DomainError;
use aggregates::moment::Moment;
use aggregates::Money;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::JsonBody;
use super::problem::TrackingError;
use super::TrackingState;
use crate::storage::{self, Amount, Eligibility, NewRecord, TrackingStore};

/// Longest accepted campaign or partner id.
const MAX_ID_CHARS: usize = 100;
/// Longest accepted `external_id`.
const MAX_EXTERNAL_ID_CHARS: usize = 255;

/// `POST /tracking/clicks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickBody {
    pub campaign_id: String,
    pub partner_id: String,
    /// When it happened; now if absent.
    #[serde(default)]
    pub occurred_at: Option<Moment>,
    /// The client's own id for it, for safe retries.
    #[serde(default)]
    pub external_id: Option<String>,
}

/// `POST /tracking/conversions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionBody {
    pub campaign_id: String,
    pub partner_id: String,
    #[serde(default)]
    pub occurred_at: Option<Moment>,
    #[serde(default)]
    pub external_id: Option<String>,
    /// What the conversion was worth, if known.
    #[serde(default)]
    pub value: Option<MoneyBody>,
}

/// An amount as sent: a decimal string (`"59.90"`) or a JSON number, checked by the
/// domain's money rules (ISO 4217 currency, positive, at most the currency's decimals).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    #[serde(deserialize_with = "aggregates::money::amount_text")]
    pub amount: String,
    pub currency: String,
}

/// An amount in an answer: exact decimal text and ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoneyOut {
    pub amount: String,
    pub currency: String,
}

impl From<Amount> for MoneyOut {
    fn from(Amount { amount, currency }: Amount) -> Self {
        MoneyOut { amount, currency }
    }
}

/// A recorded click.
#[derive(Debug, Clone, Serialize)]
pub struct Click {
    #[serde(rename = "id")]
    pub click_id: Uuid,
    pub campaign_id: String,
    pub partner_id: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub external_id: Option<String>,
}

/// A recorded conversion.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    pub id: Uuid,
    pub campaign_id: String,
    pub partner_id: String,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub external_id: Option<String>,
    pub value: Option<MoneyOut>,
}

impl From<storage::Click> for Click {
    fn from(click: storage::Click) -> Self {
        Click {
            click_id: click.click_id,
            campaign_id: click.campaign_id,
            partner_id: click.partner_id,
            occurred_at: click.occurred_at,
            recorded_at: click.recorded_at,
            external_id: click.external_id,
        }
    }
}

impl From<storage::Conversion> for Conversion {
    fn from(conversion: storage::Conversion) -> Self {
        Conversion {
            id: conversion.conversion_id,
            campaign_id: conversion.campaign_id,
            partner_id: conversion.partner_id,
            occurred_at: conversion.occurred_at,
            recorded_at: conversion.recorded_at,
            external_id: conversion.external_id,
            value: conversion.value.map(MoneyOut::from),
        }
    }
}

/// A NUL (valid in JSON) cannot be stored in a text column; other control characters
/// have no business in an id either.
pub(crate) fn has_control_characters(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// The fields clicks and conversions share, checked.
struct Tracked {
    campaign_id: String,
    partner_id: String,
    occurred_at: DateTime<Utc>,
    external_id: Option<String>,
}

impl Tracked {
    /// The record to insert, under a new id.
    fn record(&self) -> NewRecord<'_> {
        NewRecord {
            id: Uuid::now_v7(),
            campaign_id: &self.campaign_id,
            partner_id: &self.partner_id,
            occurred_at: self.occurred_at,
            external_id: self.external_id.as_deref(),
        }
    }

    fn check(
        campaign_id: String,
        partner_id: String,
        occurred_at: Option<Moment>,
        external_id: Option<String>,
    ) -> Result<Self, TrackingError> {
        for (field, id) in [("campaign_id", &campaign_id), ("partner_id", &partner_id)] {
            let chars = id.chars().count();
            if id.trim().is_empty() || chars > MAX_ID_CHARS || has_control_characters(id) {
                return Err(TrackingError::refused(
                    "tracking.invalid_id",
                    format!("{field} must be 1 to {MAX_ID_CHARS} characters, not blank, without control characters"),
                    Some(field),
                ));
            }
        }
        if let Some(external_id) = &external_id {
            if external_id.trim().is_empty()
                || external_id.chars().count() > MAX_EXTERNAL_ID_CHARS
                || has_control_characters(external_id)
            {
                return Err(TrackingError::refused(
                    "tracking.invalid_external_id",
                    format!("external_id must be 1 to {MAX_EXTERNAL_ID_CHARS} characters, not blank, without control characters"),
                    Some("external_id"),
                ));
            }
        }
        let occurred_at = occurred_at.map(|at| at.0).unwrap_or_else(Utc::now);
        if !(1..=9999).contains(&occurred_at.year()) {
            return Err(TrackingError::refused(
                "tracking.invalid_occurred_at",
                "occurred_at must lie between the years 1 and 9999".to_owned(),
                Some("occurred_at"),
            ));
        }
        Ok(Tracked {
            campaign_id,
            partner_id,
            occurred_at,
            external_id,
        })
    }
}

/// Records a click for a partner taking part in an active campaign: 201 with the record.
#[tracing::instrument(skip_all, fields(campaign_id = %body.campaign_id, partner_id = %body.partner_id))]
pub async fn record_click(
    State(state): State<TrackingState>,
    JsonBody(body): JsonBody<ClickBody>,
) -> Result<(StatusCode, Json<Click>), TrackingError> {
    let tracked = Tracked::check(
        body.campaign_id,
        body.partner_id,
        body.occurred_at,
        body.external_id,
    )?;
    let store = &*state.store;
    if let Some(click) = find_click(store, &tracked).await? {
        return Ok((StatusCode::CREATED, Json(click.into())));
    }
    check_eligible(store, &tracked.campaign_id, &tracked.partner_id).await?;
    let inserted = store.insert_click(&tracked.record()).await?;
    // Nothing inserted: a concurrent request with the same external id won; answer its record.
    let click = match inserted {
        Some(click) => click,
        None => find_click(store, &tracked)
            .await?
            .ok_or_else(|| TrackingError::Internal("a click conflicted but cannot be found".into()))?,
    };
    tracing::info!(click_id = %click.click_id, "click recorded");
    Ok((StatusCode::CREATED, Json(click.into())))
}

/// Records a conversion for a partner taking part in an active campaign: 201 with the record.
#[tracing::instrument(skip_all, fields(campaign_id = %body.campaign_id, partner_id = %body.partner_id))]
pub async fn record_conversion(
    State(state): State<TrackingState>,
    JsonBody(body): JsonBody<ConversionBody>,
) -> Result<(StatusCode, Json<Conversion>), TrackingError> {
    let tracked = Tracked::check(
        body.campaign_id,
        body.partner_id,
        body.occurred_at,
        body.external_id,
    )?;
    let value = body
        .value
        .map(|value| {
            Money::parse(&value.amount, &value.currency).map_err(|error| {
                let field = error.field().map(|field| format!("value.{field}"));
                TrackingError::Refused {
                    code: error.code(),
                    detail: error.to_string(),
                    field,
                }
            })
        })
        .transpose()?;
    let conversion = record_checked_conversion(&*state.store, &tracked, value.as_ref()).await?;
    Ok((StatusCode::CREATED, Json(conversion.into())))
}

/// Records a checked conversion, once per external id: the first record when one exists.
async fn record_checked_conversion(
    store: &dyn TrackingStore,
    tracked: &Tracked,
    value: Option<&Money>,
) -> Result<storage::Conversion, TrackingError> {
    if let Some(conversion) = find_conversion(store, tracked).await? {
        return Ok(conversion);
    }
    check_eligible(store, &tracked.campaign_id, &tracked.partner_id).await?;
    let inserted = store.insert_conversion(&tracked.record(), value).await?;
    let conversion = match inserted {
        Some(conversion) => conversion,
        None => find_conversion(store, tracked)
            .await?
            .ok_or_else(|| TrackingError::Internal("a conversion conflicted but cannot be found".into()))?,
    };
    tracing::info!(conversion_id = %conversion.conversion_id, "conversion recorded");
    Ok(conversion)
}

/// Records the conversion of a seed command (`alpes.command.register-conversion.v1`),
/// with the command's id as its external id: a command run twice records it once.
pub(crate) async fn record_commanded_conversion(
    store: &dyn TrackingStore,
    command_id: uuid::Uuid,
    campaign_id: String,
    partner_id: String,
    occurred_at: Option<DateTime<Utc>>,
) -> Result<Conversion, TrackingError> {
    let tracked = Tracked::check(
        campaign_id,
        partner_id,
        occurred_at.map(Moment),
        Some(command_id.to_string()),
    )?;
    Ok(record_checked_conversion(store, &tracked, None).await?.into())
}

/// The click recorded earlier in this campaign with the request's external id, if any.
async fn find_click(
    store: &dyn TrackingStore,
    tracked: &Tracked,
) -> Result<Option<storage::Click>, sqlx::Error> {
    let Some(external_id) = &tracked.external_id else {
        return Ok(None);
    };
    store.find_click(external_id, &tracked.campaign_id).await
}

/// The conversion recorded earlier in this campaign with the request's external id.
async fn find_conversion(
    store: &dyn TrackingStore,
    tracked: &Tracked,
) -> Result<Option<storage::Conversion>, sqlx::Error> {
    let Some(external_id) = &tracked.external_id else {
        return Ok(None);
    };
    store.find_conversion(external_id, &tracked.campaign_id).await
}

/// The rule on what the view knows, with the problems it answers (here rather than in
/// `storage`, which knows nothing of HTTP).
impl Eligibility {
    /// Ok when the partner takes part in the campaign, the campaign is active, and the
    /// partner is not known to be suspended or deactivated.
    pub(crate) fn check(&self, campaign_id: &str, partner_id: &str) -> Result<(), TrackingError> {
        match self.campaign_status.as_deref() {
            Some("active") => {}
            Some(status) => {
                return Err(TrackingError::refused(
                    "tracking.campaign_not_active",
                    format!("campaign {campaign_id} is {status}: only active campaigns are tracked"),
                    Some("campaign_id"),
                ))
            }
            None => {
                return Err(TrackingError::refused(
                    "tracking.campaign_not_active",
                    format!("campaign {campaign_id} is not known as an active campaign"),
                    Some("campaign_id"),
                ))
            }
        }
        if self.taking_part != Some(true) {
            return Err(TrackingError::refused(
                "tracking.not_a_participant",
                format!("partner {partner_id} does not take part in campaign {campaign_id}"),
                Some("partner_id"),
            ));
        }
        if let Some(status @ ("suspended" | "deactivated")) = self.partner_status.as_deref() {
            return Err(TrackingError::refused(
                "tracking.partner_not_active",
                format!("partner {partner_id} is {status}"),
                Some("partner_id"),
            ));
        }
        Ok(())
    }
}

async fn check_eligible(
    store: &dyn TrackingStore,
    campaign_id: &str,
    partner_id: &str,
) -> Result<(), TrackingError> {
    store
        .eligibility(campaign_id, partner_id)
        .await?
        .check(campaign_id, partner_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eligibility(campaign: Option<&str>, taking_part: Option<bool>, partner: Option<&str>) -> Eligibility {
        Eligibility {
            campaign_status: campaign.map(str::to_owned),
            taking_part,
            partner_status: partner.map(str::to_owned),
        }
    }

    fn code(result: Result<(), TrackingError>) -> Option<&'static str> {
        match result {
            Ok(()) => None,
            Err(TrackingError::Refused { code, .. }) => Some(code),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn only_participants_of_active_campaigns_are_eligible() {
        let check = |e: Eligibility| code(e.check("c", "p"));
        assert_eq!(check(eligibility(Some("active"), Some(true), None)), None);
        assert_eq!(
            check(eligibility(Some("active"), Some(true), Some("active"))),
            None
        );
        assert_eq!(
            check(eligibility(None, None, None)),
            Some("tracking.campaign_not_active")
        );
        assert_eq!(
            check(eligibility(Some("paused"), Some(true), None)),
            Some("tracking.campaign_not_active")
        );
        assert_eq!(
            check(eligibility(Some("active"), Some(false), None)),
            Some("tracking.not_a_participant")
        );
        assert_eq!(
            check(eligibility(Some("active"), None, None)),
            Some("tracking.not_a_participant")
        );
        assert_eq!(
            check(eligibility(Some("active"), Some(true), Some("suspended"))),
            Some("tracking.partner_not_active")
        );
    }
}
