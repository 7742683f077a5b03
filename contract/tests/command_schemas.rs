//! `contract/schemas/v1/commands.schema.json` and the v1 commands say the same thing: the
//! file lists exactly the command types, and the message of every command, built by
//! `Command::message` as the front door publishes it (with and without its optional
//! fields), matches the schema, declares no undocumented field and decodes back to itself;
//! a broken message does not match.

use chrono::{TimeZone, Utc};
use contract::v1::commands::{
    self, types, CancelCampaign, Command, Issuer, Participant, RegisterCampaign, RegisterConversion,
    RegisterPartner,
};
use contract::v1::schema::Schemas;
use contract::v1::Money;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use uuid::Uuid;

const CAMPAIGN_ID: &str = "0190a5c8-7b6e-7c3a-9f0e-2d4b5a6c7d8e";
const PARTNER_ID: &str = "0190a5c8-7b6e-7c3a-9f0e-2d4b5a6c7d8f";

fn budget() -> Money {
    Money {
        amount: "10000.00".into(),
        currency: "USD".into(),
    }
}

/// Every command, each with its optional fields set and left out.
fn samples() -> Vec<Command> {
    vec![
        Command::RegisterCampaign(RegisterCampaign {
            campaign_id: CAMPAIGN_ID.into(),
            name: "Summer".into(),
            brand_id: "brand-1".into(),
            budget: budget(),
            participants: vec![
                Participant {
                    partner_id: PARTNER_ID.into(),
                    kind: "Influencer".into(),
                    name: "Alice".into(),
                    profile: "200k followers".into(),
                },
                Participant {
                    partner_id: "p-2".into(),
                    kind: "affiliate".into(),
                    name: "Blog".into(),
                    profile: String::new(),
                },
            ],
        }),
        Command::RegisterCampaign(RegisterCampaign {
            campaign_id: CAMPAIGN_ID.into(),
            name: "Winter".into(),
            brand_id: "brand-1".into(),
            budget: Money {
                amount: "5000".into(),
                currency: "JPY".into(),
            },
            participants: Vec::new(),
        }),
        Command::CancelCampaign(CancelCampaign {
            campaign_id: CAMPAIGN_ID.into(),
            reason: "cancelled through the seed API (/eliminar-campaign)".into(),
        }),
        Command::RegisterPartner(RegisterPartner {
            partner_id: PARTNER_ID.into(),
            name: "Alice Doe".into(),
            kind: "influencer".into(),
            profile: "200k followers".into(),
            join_campaign_id: Some(CAMPAIGN_ID.into()),
        }),
        Command::RegisterPartner(RegisterPartner {
            partner_id: PARTNER_ID.into(),
            name: "Alice Doe".into(),
            kind: "influencer".into(),
            profile: String::new(),
            join_campaign_id: None,
        }),
        Command::RegisterConversion(RegisterConversion {
            campaign_id: CAMPAIGN_ID.into(),
            partner_id: PARTNER_ID.into(),
            occurred_at: Some(Utc.with_ymd_and_hms(2026, 11, 22, 9, 30, 0).unwrap()),
        }),
        Command::RegisterConversion(RegisterConversion {
            campaign_id: CAMPAIGN_ID.into(),
            partner_id: PARTNER_ID.into(),
            occurred_at: None,
        }),
    ]
}

/// Who issues the sample commands.
fn issuer() -> Issuer {
    Issuer {
        sub: "alice@brand".into(),
        role: "brand".into(),
        brand_id: Some("brand-42".into()),
        partner_id: None,
    }
}

/// The message of `command` as JSON, as it goes on the wire (naming its issuer).
fn message(command: &Command) -> Value {
    let message = command
        .message(
            Uuid::now_v7(),
            Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
        )
        .issued_by(Some(issuer()));
    serde_json::to_value(message).unwrap()
}

/// A valid register-campaign message to break.
fn register_campaign() -> Value {
    message(&samples()[0])
}

/// The fields of `object` the `$defs` entry `name` of the commands schema does not declare.
fn undeclared(schemas: &Schemas, name: &str, object: &Value) -> Vec<String> {
    let declared = &schemas.commands()["$defs"][name]["properties"];
    object
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(field, _)| declared.get(field.as_str()).is_none())
        .map(|(field, _)| format!("{name}: {field}"))
        .collect()
}

#[test]
fn the_commands_schema_lists_exactly_the_command_types() {
    let all: BTreeSet<_> = types::ALL.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(Schemas::v1().listed_command_types(), all);
    // And the event schemas list none of them.
    assert!(Schemas::v1().listed_types().is_disjoint(&all));
}

#[test]
fn every_command_message_matches_the_schema_documents_every_field_and_decodes_back() {
    let schemas = Schemas::v1();
    let mut types_seen = BTreeSet::new();
    for command in samples() {
        let instance = message(&command);
        let errors = schemas.command_errors(&instance);
        assert!(errors.is_empty(), "{instance}\n{errors:#?}");
        let mut undocumented = schemas.undocumented_command_fields(&instance);
        // The nested objects too: the budget and every participant.
        if let Some(budget) = instance["data"].get("budget") {
            undocumented.extend(undeclared(&schemas, "Money", budget));
        }
        for participant in instance["data"]["participants"].as_array().into_iter().flatten() {
            undocumented.extend(undeclared(&schemas, "Participant", participant));
        }
        // And the envelope.
        undocumented.extend(undeclared(&schemas, "CommandEnvelope", &instance));
        assert!(undocumented.is_empty(), "undocumented fields: {undocumented:?}");

        let payload = serde_json::to_vec(&instance).unwrap();
        let envelope = commands::decode_envelope(&payload).unwrap();
        assert_eq!(envelope.subject.as_deref(), Some(command.subject()));
        assert_eq!(envelope.issuer(), Some(issuer()));
        assert_eq!(
            Command::from_data(&envelope.command_type, envelope.data).unwrap(),
            command
        );
        types_seen.insert(command.command_type().to_owned());
    }
    let all: BTreeSet<_> = types::ALL.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(types_seen, all, "one sample of every command type");
}

#[test]
fn the_optional_fields_may_be_absent() {
    let schemas = Schemas::v1();
    // A message that names no issuer (an operator's tool put it on the topic).
    let anonymous = serde_json::to_value(samples()[0].message(Uuid::now_v7(), Utc::now())).unwrap();
    assert!(anonymous.get("issuersub").is_none());
    assert!(schemas.command_errors(&anonymous).is_empty(), "{anonymous}");
    // No subject, and the data fields with serde defaults left out.
    let mut campaign = register_campaign();
    campaign.as_object_mut().unwrap().remove("subject");
    campaign["data"].as_object_mut().unwrap().remove("participants");
    assert_eq!(schemas.command_errors(&campaign), Vec::<String>::new());
    let mut participant_without_profile = register_campaign();
    participant_without_profile["data"]["participants"][0]
        .as_object_mut()
        .unwrap()
        .remove("profile");
    assert_eq!(
        schemas.command_errors(&participant_without_profile),
        Vec::<String>::new()
    );
    let mut partner = message(&samples()[4]);
    partner["data"].as_object_mut().unwrap().remove("profile");
    assert_eq!(schemas.command_errors(&partner), Vec::<String>::new());
    // What the schema lets out, the Rust types read.
    for instance in [campaign, participant_without_profile, partner] {
        let envelope = commands::decode_envelope(instance.to_string().as_bytes()).unwrap();
        Command::from_data(&envelope.command_type, envelope.data).unwrap();
    }
}

#[test]
fn the_checker_catches_a_broken_command_message() {
    let schemas = Schemas::v1();
    let broken = |change: &dyn Fn(&mut Value)| {
        let mut instance = register_campaign();
        change(&mut instance);
        schemas.command_errors(&instance)
    };
    let has = |errors: &[String], needle: &str| errors.iter().any(|error| error.contains(needle));
    // A broken `data` matches no command branch (the checker does not say which field).
    let no_branch = ["$: 0 oneOf branches match"];

    let errors = broken(&|m| {
        m["data"].as_object_mut().unwrap().remove("name");
    });
    assert_eq!(errors, no_branch);
    let errors = broken(&|m| m["type"] = json!("alpes.command.register-campagin.v1"));
    assert_eq!(errors, no_branch);
    // The data of one command under the type of another.
    let errors = broken(&|m| m["type"] = json!(types::REGISTER_PARTNER));
    assert_eq!(errors, no_branch);
    let errors = broken(&|m| m["data"]["budget"]["amount"] = json!(10000));
    assert_eq!(errors, no_branch);
    let errors = broken(&|m| {
        m["data"]["budget"].as_object_mut().unwrap().remove("currency");
    });
    assert_eq!(errors, no_branch);
    let errors = broken(&|m| m["data"]["participants"] = json!({"id": "p"}));
    assert_eq!(errors, no_branch);
    let errors = broken(&|m| m["data"]["participants"][1]["kind"] = json!(1));
    assert_eq!(errors, no_branch);
    let errors = broken(&|m| {
        m["data"]["participants"][0]
            .as_object_mut()
            .unwrap()
            .remove("partner_id");
    });
    assert_eq!(errors, no_branch);

    // The envelope (its own, not an event's) is checked outside the branches: by path.
    let errors = broken(&|m| {
        m.as_object_mut().unwrap().remove("time");
    });
    assert_eq!(errors, ["$: time is missing"]);
    let errors = broken(&|m| m["source"] = json!("/alpes/campaigns"));
    assert!(has(&errors, "$.source"), "{errors:?}");
    let errors = broken(&|m| m["subject"] = json!(7));
    assert_eq!(errors, ["$.subject: 7 is not of type string"]);
    let errors = broken(&|m| m["data"] = json!("text"));
    assert!(has(&errors, "$.data"), "{errors:?}");

    // A conversion's occurred_at is text, and its required fields are required.
    let mut conversion = message(&samples()[5]);
    conversion["data"]["occurred_at"] = json!(1_795_341_600_000_i64);
    assert_eq!(schemas.command_errors(&conversion), no_branch);
    conversion["data"] = json!({"campaign_id": CAMPAIGN_ID});
    assert_eq!(schemas.command_errors(&conversion), no_branch);
    conversion["data"]["partner_id"] = json!(PARTNER_ID);
    assert_eq!(schemas.command_errors(&conversion), Vec::<String>::new());
}

#[test]
fn undocumented_command_fields_are_named() {
    let schemas = Schemas::v1();
    let mut instance = register_campaign();
    instance["data"]["nombre"] = json!("Summer");
    assert_eq!(
        schemas.undocumented_command_fields(&instance),
        ["alpes.command.register-campaign.v1: nombre"]
    );
    // A type the schema does not list is named itself.
    instance["type"] = json!("alpes.command.nope.v1");
    assert_eq!(
        schemas.undocumented_command_fields(&instance),
        ["alpes.command.nope.v1: not a type of the commands schema"]
    );
    // An integration event is not a command message.
    let event = json!({
        "specversion": "1.0", "id": "0190a5c8-7b6e-7c3a-9f0e-2d4b5a6c7d8e",
        "source": "/alpes/campaigns", "type": "alpes.campaign.activated.v1", "subject": "c",
        "time": "2026-11-22T10:00:00Z", "datacontenttype": "application/json",
        "aggregatesequence": 1, "data": {"campaign_id": "c"}
    });
    assert!(!schemas.command_errors(&event).is_empty());
    assert!(!schemas.undocumented_command_fields(&event).is_empty());
}
