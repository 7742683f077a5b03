//! The seed system's request bodies, exactly as its clients send them (Spanish field
//! names), and the v1 command each becomes.

use aggregates::moment::Moment;
use chrono::{DateTime, Utc};
use contract::v1::commands::{
    CancelCampaign, Command, Participant, RegisterCampaign, RegisterConversion, RegisterPartner,
};
use contract::v1::Money;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /crear-campaign` (and `/registrar-campaign`): a campaign with its participants.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedCampaign {
    /// The campaign's name.
    #[schema(example = "Test")]
    pub nombre: String,
    /// The budget: a JSON number (`10000`, `10000.5`) or a decimal string, in `divisa`.
    #[serde(deserialize_with = "aggregates::money::amount_text")]
    #[schema(value_type = f64, example = 10000)]
    pub presupuesto: String,
    /// ISO 4217 currency code.
    #[schema(example = "USD")]
    pub divisa: String,
    /// The brand running the campaign.
    #[schema(example = "12dqweqwqdsxq")]
    pub marca_id: String,
    #[serde(default)]
    pub participantes: Vec<SeedParticipant>,
}

/// A participant of a seed campaign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedParticipant {
    /// The partner's id.
    #[schema(example = "p-98765")]
    pub id: String,
    /// `Influencer` or `Affiliate`, any case.
    #[schema(example = "Influencer")]
    pub tipo: String,
    #[schema(example = "Alice Doe")]
    pub nombre: String,
    #[serde(default)]
    #[schema(example = "Influencer de moda con 200k seguidores")]
    pub informacion_perfil: String,
}

/// `POST /crear-partner` (and `/registrar-partner`): a partner, which with `id_campaign`
/// also joins that campaign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedPartner {
    #[schema(example = "Alice Doe")]
    pub nombre: String,
    /// `influencer` or `affiliate`, any case.
    #[schema(example = "influencer")]
    pub tipo: String,
    #[serde(default)]
    #[schema(example = "Influencer de moda con 200k seguidores")]
    pub informacion_perfil: String,
    /// A campaign the new partner joins (its id: a UUID).
    #[serde(default)]
    pub id_campaign: Option<Uuid>,
}

/// `POST /registrar-evento`: a conversion of a partner in a campaign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeedConversion {
    pub id_partner: String,
    pub id_campana: String,
    /// When it happened, in epoch milliseconds (years 1 to 9999); now if absent.
    #[serde(default, deserialize_with = "fecha")]
    #[schema(value_type = Option<i64>, example = 1795341600000i64)]
    pub fecha: Option<DateTime<Utc>>,
}

impl SeedCampaign {
    /// Registers the campaign under a new id.
    pub fn command(self) -> Command {
        Command::RegisterCampaign(RegisterCampaign {
            campaign_id: Uuid::now_v7().to_string(),
            name: self.nombre,
            brand_id: self.marca_id,
            budget: Money {
                amount: self.presupuesto,
                currency: self.divisa,
            },
            participants: self
                .participantes
                .into_iter()
                .map(|participant| Participant {
                    partner_id: participant.id,
                    kind: participant.tipo,
                    name: participant.nombre,
                    profile: participant.informacion_perfil,
                })
                .collect(),
        })
    }
}

impl SeedPartner {
    /// Registers the partner under a new id.
    pub fn command(self) -> Command {
        Command::RegisterPartner(RegisterPartner {
            partner_id: Uuid::now_v7().to_string(),
            name: self.nombre,
            kind: self.tipo,
            profile: self.informacion_perfil,
            join_campaign_id: self.id_campaign.map(|id| id.to_string()),
        })
    }
}

impl SeedConversion {
    pub fn command(self) -> Command {
        Command::RegisterConversion(RegisterConversion {
            campaign_id: self.id_campana,
            partner_id: self.id_partner,
            occurred_at: self.fecha,
        })
    }
}

/// The earliest and latest `fecha` taken: the years 1 to 9999, in epoch milliseconds.
pub const FECHA_RANGE: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;

/// `fecha` as a moment of the years 1 to 9999 (the tracking service's range); epoch
/// milliseconds as the seed sent it, or an RFC 3339 date-time.
fn fecha<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(Moment(moment)) = Option::<Moment>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if !FECHA_RANGE.contains(&moment.timestamp_millis()) {
        return Err(de::Error::custom(format!(
            "{moment} is not within the years 1 to 9999"
        )));
    }
    Ok(Some(moment))
}

/// Cancels a campaign, as the seed's `GET /eliminar-campaign/{id}` deleted it.
pub fn cancel_campaign(campaign_id: Uuid) -> Command {
    Command::CancelCampaign(CancelCampaign {
        campaign_id: campaign_id.to_string(),
        reason: "cancelled through the seed API (/eliminar-campaign)".to_owned(),
    })
}
