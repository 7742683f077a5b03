//! `GET /tracking/campaigns/{id}/stats`: a campaign's clicks and conversions (count and
//! value per currency), in total and per partner.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;

use super::problem::TrackingError;
use super::records::MoneyOut;
use super::TrackingState;
use crate::storage::{CampaignFigures, ConversionSum};

#[derive(Debug, Serialize)]
pub struct CampaignStats {
    pub campaign_id: String,
    /// The campaign's status as known from the events (`null` if no status event arrived).
    pub status: Option<String>,
    pub clicks: i64,
    pub conversions: ConversionStats,
    /// Partners taking part, and any partner with recorded clicks or conversions, by id.
    pub partners: Vec<PartnerStats>,
}

#[derive(Debug, Default, Serialize)]
pub struct ConversionStats {
    pub count: i64,
    /// The summed values, one per currency (conversions without a value count, but add
    /// no value).
    pub value: Vec<MoneyOut>,
}

#[derive(Debug, Default, Serialize)]
pub struct PartnerStats {
    pub partner_id: String,
    /// Whether the partner takes part in the campaign now.
    pub taking_part: bool,
    pub clicks: i64,
    pub conversions: ConversionStats,
}

impl ConversionStats {
    fn add(&mut self, sum: ConversionSum) {
        self.count += sum.conversions;
        if let (Some(currency), Some(amount)) = (sum.currency, sum.value) {
            self.value.push(MoneyOut { amount, currency });
        }
    }
}

/// 404 when the campaign is unknown to the tracking service and nothing was recorded for it.
#[tracing::instrument(skip_all)]
pub async fn campaign_stats(
    State(state): State<TrackingState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CampaignStats>, TrackingError> {
    let Path(campaign_id) = id.map_err(|rejection| TrackingError::BadRequest {
        code: "request.invalid_path",
        detail: rejection.body_text(),
        field: None,
    })?;
    if super::records::has_control_characters(&campaign_id) {
        // No campaign id holds one (the write side refuses them); a text column
        // could not even be searched for it.
        return Err(TrackingError::NotFound {
            code: "tracking.campaign_not_found",
            detail: "no campaign is known with this id".into(),
        });
    }
    let CampaignFigures {
        view,
        clicks,
        conversions,
        totals,
    } = state.store.campaign_figures(&campaign_id).await?;
    if view.status.is_none() && view.participants.is_empty() && clicks.is_empty() && conversions.is_empty() {
        return Err(TrackingError::NotFound {
            code: "tracking.campaign_not_found",
            detail: format!("campaign {campaign_id} is not known to the tracking service"),
        });
    }

    let mut partners: BTreeMap<String, PartnerStats> = BTreeMap::new();
    for id in &view.participants {
        partner(&mut partners, id).taking_part = true;
    }
    let mut total_clicks = 0;
    for (id, count) in clicks {
        partner(&mut partners, &id).clicks += count;
        total_clicks += count;
    }
    for sum in conversions {
        let id = sum.partner_id.clone().unwrap_or_default();
        partner(&mut partners, &id).conversions.add(sum);
    }
    let mut total_conversions = ConversionStats::default();
    for sum in totals {
        total_conversions.add(sum);
    }
    let mut partners: Vec<PartnerStats> = partners.into_values().collect();
    for stats in &mut partners {
        stats
            .conversions
            .value
            .sort_by(|a, b| a.currency.cmp(&b.currency));
    }
    total_conversions
        .value
        .sort_by(|a, b| a.currency.cmp(&b.currency));
    Ok(Json(CampaignStats {
        campaign_id,
        status: view.status,
        clicks: total_clicks,
        conversions: total_conversions,
        partners,
    }))
}

fn partner<'a>(partners: &'a mut BTreeMap<String, PartnerStats>, id: &str) -> &'a mut PartnerStats {
    partners.entry(id.to_owned()).or_insert_with(|| PartnerStats {
        partner_id: id.to_owned(),
        ..PartnerStats::default()
    })
}
