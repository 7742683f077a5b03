//! Version 1 of the commands: what the seed system's front door sends to the services
//! that execute them, on the `comando-*` topics (or through the embedded command queue),
//! documented by `contract/schemas/v1/commands.schema.json`.
//!
//! Every command message is a CloudEvents 1.0 event in structured JSON mode
//! ([`CommandMessage`]), as the integration events are: `id` is the command's id (the
//! one `GET /commands/{id}` answers for, and the correlation id of the events it
//! causes), `type` names the command and its version
//! (`alpes.command.register-campaign.v1`), `subject` the aggregate it targets, and
//! `data` one of the structs below. Field names are English; the front door maps the
//! seed's Spanish ones (`nombre`, `presupuesto`, ...) onto them.

use super::{Money, DATA_CONTENT_TYPE, SPEC_VERSION};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `source` of every command message.
pub const COMMAND_SOURCE: &str = "/alpes/commands";

/// The command types.
pub mod types {
    pub const REGISTER_CAMPAIGN: &str = "alpes.command.register-campaign.v1";
    pub const CANCEL_CAMPAIGN: &str = "alpes.command.cancel-campaign.v1";
    pub const REGISTER_PARTNER: &str = "alpes.command.register-partner.v1";
    pub const REGISTER_CONVERSION: &str = "alpes.command.register-conversion.v1";
    /// Every command type.
    pub const ALL: [&str; 4] = [
        REGISTER_CAMPAIGN,
        CANCEL_CAMPAIGN,
        REGISTER_PARTNER,
        REGISTER_CONVERSION,
    ];
}

/// A command message: a CloudEvents 1.0 event. `D` is [`Command`]'s data, or
/// `serde_json::Value` while the type is not known yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandMessage<D> {
    /// Always [`SPEC_VERSION`].
    pub specversion: String,
    /// The command's id.
    pub id: Uuid,
    /// Always [`COMMAND_SOURCE`].
    pub source: String,
    /// One of [`types`].
    #[serde(rename = "type")]
    pub command_type: String,
    /// The aggregate the command targets (also the message key), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When the command was accepted.
    pub time: DateTime<Utc>,
    /// Always [`DATA_CONTENT_TYPE`].
    pub datacontenttype: String,
    pub data: D,
    /// Extension attributes: who issued the command ([`Issuer`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuersub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuerrole: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuerbrandid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuerpartnerid: Option<String>,
}

/// Who issued a command: the principal of the request that submitted it. The command
/// runs with its rights, and the events it causes record it. Carried by a message as
/// CloudEvents extension attributes (`issuersub`, `issuerrole`, `issuerbrandid`,
/// `issuerpartnerid`); stored, and read by the services, as this JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issuer {
    pub sub: String,
    /// `admin`, `brand`, `partner`, `tracker` or `reader`.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
}

impl<D> CommandMessage<D> {
    /// Who issued the command, when the message says.
    pub fn issuer(&self) -> Option<Issuer> {
        Some(Issuer {
            sub: self.issuersub.clone()?,
            role: self.issuerrole.clone()?,
            brand_id: self.issuerbrandid.clone(),
            partner_id: self.issuerpartnerid.clone(),
        })
    }

    /// The message, naming `issuer` as who issued it.
    pub fn issued_by(mut self, issuer: Option<Issuer>) -> Self {
        let issuer = issuer.as_ref();
        self.issuersub = issuer.map(|i| i.sub.clone());
        self.issuerrole = issuer.map(|i| i.role.clone());
        self.issuerbrandid = issuer.and_then(|i| i.brand_id.clone());
        self.issuerpartnerid = issuer.and_then(|i| i.partner_id.clone());
        self
    }
}

/// Registers a campaign under an id chosen when the command was accepted (so that a
/// redelivered command targets the same campaign).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterCampaign {
    pub campaign_id: String,
    pub name: String,
    pub brand_id: String,
    pub budget: Money,
    #[serde(default)]
    pub participants: Vec<Participant>,
}

/// A partner taking part in a campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    pub partner_id: String,
    /// `influencer` or `affiliate`, any case.
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub profile: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CancelCampaign {
    pub campaign_id: String,
    pub reason: String,
}

/// Registers a partner under an id chosen when the command was accepted, and, with
/// `join_campaign_id`, adds it to that campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterPartner {
    pub partner_id: String,
    pub name: String,
    pub kind: String,
    #[serde(default)]
    pub profile: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_campaign_id: Option<String>,
}

/// Records a conversion (the tracking service).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisterConversion {
    pub campaign_id: String,
    pub partner_id: String,
    /// When it happened; when the command runs if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// Every v1 command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    RegisterCampaign(RegisterCampaign),
    CancelCampaign(CancelCampaign),
    RegisterPartner(RegisterPartner),
    RegisterConversion(RegisterConversion),
}

/// Why a message is not a v1 command.
#[derive(Debug, thiserror::Error)]
pub enum CommandDecodeError {
    #[error("not a CloudEvents 1.0 JSON command: {0}")]
    Envelope(serde_json::Error),
    #[error("unsupported CloudEvents specversion {0:?}")]
    SpecVersion(String),
    #[error("unknown command type {0:?}")]
    UnknownType(String),
    #[error("data of {command_type} does not match its schema: {source}")]
    Data {
        command_type: String,
        source: serde_json::Error,
    },
    /// Valid JSON, but no database stores text with a NUL character.
    #[error("the command's text holds a NUL character")]
    Nul,
}

/// Whether any text in `value` holds a NUL character (valid JSON that neither Postgres's
/// `jsonb` nor its `text` can store).
pub fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(fields) => fields
            .iter()
            .any(|(name, value)| name.contains('\0') || contains_nul(value)),
        _ => false,
    }
}

impl Command {
    /// The CloudEvents `type`.
    pub fn command_type(&self) -> &'static str {
        match self {
            Command::RegisterCampaign(_) => types::REGISTER_CAMPAIGN,
            Command::CancelCampaign(_) => types::CANCEL_CAMPAIGN,
            Command::RegisterPartner(_) => types::REGISTER_PARTNER,
            Command::RegisterConversion(_) => types::REGISTER_CONVERSION,
        }
    }

    /// The aggregate the command targets: the message's key and `subject`.
    pub fn subject(&self) -> &str {
        match self {
            Command::RegisterCampaign(command) => &command.campaign_id,
            Command::CancelCampaign(command) => &command.campaign_id,
            Command::RegisterPartner(command) => &command.partner_id,
            Command::RegisterConversion(command) => &command.campaign_id,
        }
    }

    /// The command's `data`.
    pub fn data(&self) -> serde_json::Value {
        let data = match self {
            Command::RegisterCampaign(command) => serde_json::to_value(command),
            Command::CancelCampaign(command) => serde_json::to_value(command),
            Command::RegisterPartner(command) => serde_json::to_value(command),
            Command::RegisterConversion(command) => serde_json::to_value(command),
        };
        // Plain structs of strings: serialising them cannot fail.
        data.unwrap_or_default()
    }

    /// Reads a command from its type and `data`. Unknown fields are ignored (v1 only
    /// grows by optional fields).
    pub fn from_data(command_type: &str, data: serde_json::Value) -> Result<Command, CommandDecodeError> {
        fn read<T: serde::de::DeserializeOwned>(
            t: &str,
            data: serde_json::Value,
        ) -> Result<T, CommandDecodeError> {
            serde_json::from_value(data).map_err(|source| CommandDecodeError::Data {
                command_type: t.to_owned(),
                source,
            })
        }
        if command_type.contains('\0') || contains_nul(&data) {
            return Err(CommandDecodeError::Nul);
        }
        let t = command_type;
        Ok(match t {
            types::REGISTER_CAMPAIGN => Command::RegisterCampaign(read(t, data)?),
            types::CANCEL_CAMPAIGN => Command::CancelCampaign(read(t, data)?),
            types::REGISTER_PARTNER => Command::RegisterPartner(read(t, data)?),
            types::REGISTER_CONVERSION => Command::RegisterConversion(read(t, data)?),
            other => return Err(CommandDecodeError::UnknownType(other.to_owned())),
        })
    }

    /// The message that carries this command.
    pub fn message(&self, id: Uuid, time: DateTime<Utc>) -> CommandMessage<serde_json::Value> {
        CommandMessage {
            specversion: SPEC_VERSION.to_owned(),
            id,
            source: COMMAND_SOURCE.to_owned(),
            command_type: self.command_type().to_owned(),
            subject: Some(self.subject().to_owned()),
            time,
            datacontenttype: DATA_CONTENT_TYPE.to_owned(),
            data: self.data(),
            issuersub: None,
            issuerrole: None,
            issuerbrandid: None,
            issuerpartnerid: None,
        }
    }
}

/// Reads a command message's envelope; its `data` stays JSON ([`Command::from_data`]
/// reads it), so that a message with a readable id but bad data can still be answered
/// for (`failed`, with why).
pub fn decode_envelope(payload: &[u8]) -> Result<CommandMessage<serde_json::Value>, CommandDecodeError> {
    let envelope: CommandMessage<serde_json::Value> =
        serde_json::from_slice(payload).map_err(CommandDecodeError::Envelope)?;
    if envelope.specversion != SPEC_VERSION {
        return Err(CommandDecodeError::SpecVersion(envelope.specversion));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_survives_its_message() {
        let command = Command::RegisterPartner(RegisterPartner {
            partner_id: "p-1".into(),
            name: "Alice Doe".into(),
            kind: "influencer".into(),
            profile: String::new(),
            join_campaign_id: Some("c-1".into()),
        });
        let id = Uuid::now_v7();
        let payload = serde_json::to_vec(&command.message(id, Utc::now())).unwrap();
        let envelope = decode_envelope(&payload).unwrap();
        assert_eq!(envelope.id, id);
        assert_eq!(envelope.subject.as_deref(), Some("p-1"));
        assert_eq!(
            Command::from_data(&envelope.command_type, envelope.data).unwrap(),
            command
        );
    }

    #[test]
    fn unknown_types_and_bad_data_are_named() {
        let error = Command::from_data("alpes.command.nope.v1", serde_json::json!({})).unwrap_err();
        assert!(matches!(error, CommandDecodeError::UnknownType(_)));
        let error =
            Command::from_data(types::CANCEL_CAMPAIGN, serde_json::json!({"campaign_id": 1})).unwrap_err();
        assert!(error.to_string().contains("cancel-campaign"), "{error}");
        assert!(decode_envelope(b"not json").is_err());
        let nul = serde_json::json!({"campaign_id": "c\0", "reason": "r"});
        assert!(matches!(
            Command::from_data(types::CANCEL_CAMPAIGN, nul),
            Err(CommandDecodeError::Nul)
        ));
        assert!(contains_nul(&serde_json::json!({"a": [{"b\0": 1}]})));
        assert!(!contains_nul(&serde_json::json!({"a": ["b", 1, null]})));
    }
}
