//! Connection setup and topic discovery: CONNECTED (or the refusal of a CONNECT without the
//! required token), PARTITIONED_METADATA, LOOKUP, GET_TOPICS_OF_NAMESPACE, and the schema
//! commands (schemas are accepted and echoed, never validated).

use pulsar::message::proto::command_get_topics_of_namespace::Mode;
use pulsar::message::proto::command_lookup_topic_response::LookupType;
use pulsar::message::proto::command_partitioned_topic_metadata_response::LookupType as MetadataLookupType;
use pulsar::message::proto::{
    base_command::Type, BaseCommand, CommandConnect, CommandConnected, CommandGetOrCreateSchema,
    CommandGetOrCreateSchemaResponse, CommandGetSchema, CommandGetSchemaResponse,
    CommandGetTopicsOfNamespace, CommandGetTopicsOfNamespaceResponse, CommandLookupTopic,
    CommandLookupTopicResponse, CommandPartitionedTopicMetadata, CommandPartitionedTopicMetadataResponse,
    ServerError,
};

use super::{
    error, valid_topic_name, Broker, Outbox, BROKER_REQUEST_ID, MAX_MESSAGE_SIZE, PROTOCOL_VERSION,
    SCHEMA_VERSION,
};
use crate::topic::full_topic_name;

/// The authentication method of Pulsar's token provider (`AuthenticationProviderToken`).
const TOKEN_METHOD: &str = "token";

impl Broker {
    /// Whether a CONNECT may go on: always, unless the broker requires a token; then only with
    /// the `token` method and that token. The reason of a refusal never shows the token sent.
    pub fn authenticate(&self, connect: &CommandConnect) -> Result<(), &'static str> {
        let Some(required) = &self.required_token else {
            return Ok(());
        };
        match (connect.auth_method_name.as_deref(), connect.auth_data.as_deref()) {
            (Some(TOKEN_METHOD), Some(token)) if token == required.as_slice() => Ok(()),
            (Some(TOKEN_METHOD), Some(_)) => Err("Unable to authenticate: the token is not the right one"),
            (Some(TOKEN_METHOD), None) => Err("Unable to authenticate: the token method without a token"),
            (Some(_), _) => Err("Unable to authenticate: only the token method is accepted"),
            (None, _) => Err("Unable to authenticate: no authentication, and a token is required"),
        }
    }

    /// LOOKUP: every topic is served here, by this broker's own URL.
    pub(super) fn lookup(&self, outbox: &Outbox, lookup: CommandLookupTopic) {
        outbox.send(BaseCommand {
            r#type: Type::LookupResponse as i32,
            lookup_topic_response: Some(CommandLookupTopicResponse {
                broker_service_url: Some(self.url.clone()),
                response: Some(LookupType::Connect as i32),
                request_id: lookup.request_id,
                authoritative: Some(true),
                proxy_through_service_url: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        });
    }

    pub(super) fn topics_of_namespace(&self, outbox: &Outbox, get: CommandGetTopicsOfNamespace) {
        let mode = get
            .mode
            .and_then(|mode| Mode::try_from(mode).ok())
            .unwrap_or(Mode::Persistent);
        let in_namespace = |name: &String| {
            let (scheme, rest) = name.split_once("://").unwrap_or_default();
            let scheme_wanted = match mode {
                Mode::Persistent => scheme == "persistent",
                Mode::NonPersistent => scheme == "non-persistent",
                Mode::All => true,
            };
            scheme_wanted
                && rest
                    .rsplit_once('/')
                    .is_some_and(|(namespace, _)| namespace == get.namespace)
        };
        outbox.send(BaseCommand {
            r#type: Type::GetTopicsOfNamespaceResponse as i32,
            get_topics_of_namespace_response: Some(CommandGetTopicsOfNamespaceResponse {
                request_id: get.request_id,
                topics: self.topics.names().into_iter().filter(in_namespace).collect(),
                filtered: Some(false),
                topics_hash: None,
                changed: Some(true),
            }),
            ..Default::default()
        });
    }

    pub(super) fn get_schema(&self, outbox: &Outbox, get: CommandGetSchema) {
        let schema = self
            .topics
            .get(&full_topic_name(&get.topic))
            .and_then(|topic| topic.schema.clone());
        let response = match schema {
            Some(schema) => CommandGetSchemaResponse {
                request_id: get.request_id,
                schema: Some(schema),
                schema_version: Some(SCHEMA_VERSION.to_vec()),
                ..Default::default()
            },
            None => CommandGetSchemaResponse {
                request_id: get.request_id,
                error_code: Some(ServerError::TopicNotFound as i32),
                error_message: Some("Topic not found or no-schema".into()),
                ..Default::default()
            },
        };
        outbox.send(BaseCommand {
            r#type: Type::GetSchemaResponse as i32,
            get_schema_response: Some(response),
            ..Default::default()
        });
    }

    pub(super) fn get_or_create_schema(&mut self, outbox: &Outbox, get: CommandGetOrCreateSchema) {
        if let Some(topic_name) = valid_topic_name(&get.topic) {
            self.topics
                .get_or_create(&topic_name)
                .schema
                .get_or_insert(get.schema);
        }
        outbox.send(BaseCommand {
            r#type: Type::GetOrCreateSchemaResponse as i32,
            get_or_create_schema_response: Some(CommandGetOrCreateSchemaResponse {
                request_id: get.request_id,
                schema_version: Some(SCHEMA_VERSION.to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
}

/// The answer to a CONNECT that [`Broker::authenticate`] refused, as Pulsar sends it: an ERROR
/// (AuthenticationError) with the request id -1 (a CONNECT has none), after which the broker
/// closes the connection. Clients do not retry it.
pub(crate) fn authentication_refused(reason: &str) -> BaseCommand {
    error(BROKER_REQUEST_ID, ServerError::AuthenticationError, reason)
}

/// The answer to a CONNECT that [`Broker::authenticate`] accepted.
pub(crate) fn connected(connect: &CommandConnect) -> BaseCommand {
    let protocol_version = connect.protocol_version.unwrap_or(0).min(PROTOCOL_VERSION);
    BaseCommand {
        r#type: Type::Connected as i32,
        connected: Some(CommandConnected {
            server_version: concat!("pulsar-test-broker-", env!("CARGO_PKG_VERSION")).to_string(),
            protocol_version: Some(protocol_version),
            max_message_size: Some(MAX_MESSAGE_SIZE as i32),
        }),
        ..Default::default()
    }
}

/// PARTITIONED_METADATA: every topic is non-partitioned.
pub(super) fn partitioned_metadata(outbox: &Outbox, metadata: CommandPartitionedTopicMetadata) {
    outbox.send(BaseCommand {
        r#type: Type::PartitionedMetadataResponse as i32,
        partition_metadata_response: Some(CommandPartitionedTopicMetadataResponse {
            partitions: Some(0),
            request_id: metadata.request_id,
            response: Some(MetadataLookupType::Success as i32),
            ..Default::default()
        }),
        ..Default::default()
    });
}
