//! The JSON Schema files of v1 (`contract/schemas/v1/`), embedded, and a checker of the part
//! of JSON Schema they use (`$ref`, `allOf`, `oneOf`, `type`, `const`, `enum`, `required`,
//! `properties`, `items`; `pattern`, `format` and `description` are documentation only here).
//!
//! The files are the contract as consumers outside this workspace read it: the integration
//! events of the `campaign-events` and `partner-events` topics ([`Topic`], [`Schemas::errors`])
//! and the seed front door's command messages on the `comando-*` topics
//! ([`Schemas::command_errors`]). The checker lets tests hold the Rust types
//! (`contract/tests/schemas.rs`, `contract/tests/command_schemas.rs`) and what the relay really
//! publishes (`bus/tests/schemas.rs`) against them, so the files cannot drift from the code.
//! It lives here, not in a test, so that both suites use the same one. It is not a general
//! JSON Schema validator: it panics on a keyword value the files do not use.

use serde_json::Value;
use std::collections::BTreeSet;

/// The envelope every message shares (`urn:alpes:schema:v1:cloudevent`).
pub const CLOUDEVENT: &str = include_str!("../../schemas/v1/cloudevent.schema.json");
/// The messages of the `campaign-events` topic.
pub const CAMPAIGN_EVENTS: &str = include_str!("../../schemas/v1/campaign-events.schema.json");
/// The messages of the `partner-events` topic.
pub const PARTNER_EVENTS: &str = include_str!("../../schemas/v1/partner-events.schema.json");
/// The command messages of the `comando-*` topics (`urn:alpes:schema:v1:commands`), with an
/// envelope of their own: no `aggregatesequence`, `subject` optional.
pub const COMMANDS: &str = include_str!("../../schemas/v1/commands.schema.json");

/// The `$ref` by which the topic schemas point at the envelope.
const CLOUDEVENT_ID: &str = "urn:alpes:schema:v1:cloudevent";

/// A topic of v1, each described by its own schema file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    CampaignEvents,
    PartnerEvents,
}

impl Topic {
    /// Both topics.
    pub const ALL: [Topic; 2] = [Topic::CampaignEvents, Topic::PartnerEvents];
}

/// The four schema files, parsed.
#[derive(Debug, Clone)]
pub struct Schemas {
    envelope: Value,
    campaign_events: Value,
    partner_events: Value,
    commands: Value,
}

impl Schemas {
    /// Parses the embedded files (valid JSON: `contract/tests/schemas.rs` loads them).
    pub fn v1() -> Self {
        let parse = |name, text| {
            serde_json::from_str(text).unwrap_or_else(|error| panic!("schemas/v1/{name}: {error}"))
        };
        Self {
            envelope: parse("cloudevent.schema.json", CLOUDEVENT),
            campaign_events: parse("campaign-events.schema.json", CAMPAIGN_EVENTS),
            partner_events: parse("partner-events.schema.json", PARTNER_EVENTS),
            commands: parse("commands.schema.json", COMMANDS),
        }
    }

    /// The schema of `topic`'s messages.
    pub fn topic(&self, topic: Topic) -> &Value {
        match topic {
            Topic::CampaignEvents => &self.campaign_events,
            Topic::PartnerEvents => &self.partner_events,
        }
    }

    /// Where `event` (a whole message, envelope and `data`) breaks `topic`'s schema; empty if
    /// it does not.
    pub fn errors(&self, topic: Topic, event: &Value) -> Vec<String> {
        let root = self.topic(topic);
        let mut errors = Vec::new();
        self.check(root, root, event, "$", &mut errors);
        errors
    }

    /// The fields of `event`'s `data` that the schema of its `type` does not declare (a
    /// field the relay publishes but the contract does not document), or the `type` itself
    /// if `topic`'s schema does not list it.
    pub fn undocumented_fields(&self, topic: Topic, event: &Value) -> Vec<String> {
        undocumented(self.topic(topic), &format!("{topic:?}"), event)
    }

    /// Every `type` the topic schemas list.
    pub fn listed_types(&self) -> BTreeSet<String> {
        Topic::ALL
            .into_iter()
            .flat_map(|topic| listed(self.topic(topic)))
            .collect()
    }

    /// The schema of the command messages.
    pub fn commands(&self) -> &Value {
        &self.commands
    }

    /// Where `message` (a whole command message, envelope and `data`) breaks the commands
    /// schema; empty if it does not.
    pub fn command_errors(&self, message: &Value) -> Vec<String> {
        let root = &self.commands;
        let mut errors = Vec::new();
        self.check(root, root, message, "$", &mut errors);
        errors
    }

    /// The fields of a command message's `data` that the schema of its `type` does not
    /// declare, or the `type` itself if the commands schema does not list it (as
    /// [`Schemas::undocumented_fields`] for events). Nested objects (a participant, the
    /// budget) are not looked into, as for events.
    pub fn undocumented_command_fields(&self, message: &Value) -> Vec<String> {
        undocumented(&self.commands, "the commands schema", message)
    }

    /// Every `type` the commands schema lists.
    pub fn listed_command_types(&self) -> BTreeSet<String> {
        listed(&self.commands).collect()
    }

    /// Errors of `instance` against `schema` (whose local `$ref`s point into `root`).
    fn check(&self, root: &Value, schema: &Value, instance: &Value, path: &str, errors: &mut Vec<String>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            if reference == CLOUDEVENT_ID {
                return self.check(&self.envelope, &self.envelope, instance, path, errors);
            }
            let name = reference.strip_prefix("#/$defs/").expect("a local $ref");
            return self.check(root, &root["$defs"][name], instance, path, errors);
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.check(root, part, instance, path, errors);
        }
        if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
            let matching = branches
                .iter()
                .filter(|branch| {
                    let mut branch_errors = Vec::new();
                    self.check(root, branch, instance, path, &mut branch_errors);
                    branch_errors.is_empty()
                })
                .count();
            if matching != 1 {
                errors.push(format!("{path}: {matching} oneOf branches match"));
            }
        }
        if let Some(expected) = schema.get("const") {
            if expected != instance {
                errors.push(format!("{path}: {instance} is not {expected}"));
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array) {
            if !options.contains(instance) {
                errors.push(format!("{path}: {instance} not in {options:?}"));
            }
        }
        if let Some(expected) = schema.get("type").and_then(Value::as_str) {
            let ok = match expected {
                "object" => instance.is_object(),
                "array" => instance.is_array(),
                "string" => instance.is_string(),
                "integer" => instance.is_i64() || instance.is_u64(),
                "null" => instance.is_null(),
                other => panic!("type {other} not supported by this checker"),
            };
            if !ok {
                errors.push(format!("{path}: {instance} is not of type {expected}"));
            }
        }
        if let (Some(items), Some(elements)) = (schema.get("items"), instance.as_array()) {
            for (index, element) in elements.iter().enumerate() {
                self.check(root, items, element, &format!("{path}[{index}]"), errors);
            }
        }
        let Some(object) = instance.as_object() else {
            return;
        };
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                errors.push(format!("{path}: {name} is missing"));
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                if let Some(value) = object.get(name) {
                    self.check(root, property, value, &format!("{path}.{name}"), errors);
                }
            }
        }
    }
}

/// The `type` of every `oneOf` branch of `root` (a topic's or the commands' schema).
fn listed(root: &Value) -> impl Iterator<Item = String> + '_ {
    root["oneOf"].as_array().into_iter().flatten().map(|branch| {
        branch["properties"]["type"]["const"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    })
}

/// The fields of `message`'s `data` that the `$defs` entry its `type`'s branch of `root`
/// points at does not declare, or the `type` if no branch lists it (`scope` names `root`).
fn undocumented(root: &Value, scope: &str, message: &Value) -> Vec<String> {
    let message_type = message["type"].as_str().unwrap_or_default();
    let Some(branch) = root["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|branch| branch["properties"]["type"]["const"] == message_type)
    else {
        return vec![format!("{message_type}: not a type of {scope}")];
    };
    let reference = branch["properties"]["data"]["$ref"].as_str().unwrap_or_default();
    let name = reference.strip_prefix("#/$defs/").unwrap_or_default();
    let declared = &root["$defs"][name]["properties"];
    message["data"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(field, _)| declared.get(field.as_str()).is_none())
        .map(|(field, _)| format!("{message_type}: {field}"))
        .collect()
}
