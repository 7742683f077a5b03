//! [`OutgoingMessage`]: an integration event ready for any transport: which stream it goes
//! to, its key, its JSON payload and its properties.

use chrono::{DateTime, Utc};
use cqrs_es::persist::EventUpcaster;
use store::{LogCursor, RecordedEvent};
use uuid::Uuid;

use crate::mapping::{integration_event, MappingError};
use contract::v1;

/// Where a message goes; each transport maps it to a destination (a Pulsar topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventStream {
    Campaigns,
    Partners,
}

/// Names of the message properties, spelled once for producers and consumers.
pub mod property {
    /// The event's id (= the CloudEvent `id`).
    pub const EVENT_ID: &str = "event_id";
    /// The CloudEvent `type`, e.g. `alpes.campaign.activated.v1`.
    pub const EVENT_TYPE: &str = "event_type";
    /// The schema version of the payload, e.g. `v1`.
    pub const SCHEMA_VERSION: &str = "schema_version";
    /// The event's global position in the log.
    pub const POSITION: &str = "position";
    /// The event's sequence in its aggregate's stream.
    pub const AGGREGATE_SEQUENCE: &str = "aggregate_sequence";
}

/// One integration event, encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub stream: EventStream,
    /// The aggregate's id: messages with one key keep their order (and go to one consumer
    /// of a Key_Shared subscription).
    pub key: String,
    /// The CloudEvent, as JSON.
    pub payload: Vec<u8>,
    /// When the event was committed.
    pub event_time: DateTime<Utc>,
    /// `(name, value)` pairs; names from [`property`].
    pub properties: Vec<(&'static str, String)>,
    pub event_id: Uuid,
    /// Where the event is in the log (not sent: the relay's bookkeeping).
    pub cursor: LogCursor,
}

/// Maps a committed event to its integration event (through the domain's `upcasters`)
/// and encodes it.
pub fn encode(
    recorded: &RecordedEvent,
    upcasters: &[Box<dyn EventUpcaster>],
) -> Result<OutgoingMessage, MappingError> {
    let event = integration_event(recorded, upcasters)?;
    let stream = match event.data {
        v1::IntegrationEvent::Campaign(_) => EventStream::Campaigns,
        v1::IntegrationEvent::Partner(_) => EventStream::Partners,
    };
    let properties = vec![
        (property::EVENT_ID, recorded.event_id.to_string()),
        (property::EVENT_TYPE, event.event_type.clone()),
        (property::SCHEMA_VERSION, v1::SCHEMA_VERSION.to_owned()),
        (property::POSITION, recorded.cursor.position.to_string()),
        (property::AGGREGATE_SEQUENCE, recorded.sequence.to_string()),
    ];
    let payload = serde_json::to_vec(&event).map_err(|source| MappingError::Payload {
        event_id: recorded.event_id,
        event_type: recorded.event_type.clone(),
        source,
    })?;
    Ok(OutgoingMessage {
        stream,
        key: recorded.aggregate_id.clone(),
        payload,
        event_time: recorded.recorded_at,
        properties,
        event_id: recorded.event_id,
        cursor: recorded.cursor,
    })
}
