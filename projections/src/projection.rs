//! [`Projection`]: what a read model is, to the projector that maintains it.

use crate::storage::ViewTransaction;
use async_trait::async_trait;
use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde::de::DeserializeOwned;
use store::RecordedEvent;

/// Which copy of a projection's tables to write: the live one queries read, or the
/// shadow copy a rebuild fills before it is swapped in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    Live,
    Shadow,
}

impl Tables {
    /// The actual name of one of a projection's tables in this copy.
    pub fn name(self, base: &str) -> String {
        match self {
            Tables::Live => base.to_owned(),
            Tables::Shadow => format!("{base}__rebuild"),
        }
    }
}

/// Why a batch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The event at `index` of the batch cannot be applied (undecodable payload,
    /// unknown version, an event for a view that does not exist): retrying will not
    /// help, an operator must look at it.
    #[error("event {index} of the batch cannot be applied: {reason}")]
    Poison { index: usize, reason: String },
    /// The database failed; the batch can be retried as it is.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A read model built from the log.
///
/// Implementations keep their logic pure (fold events into view structs) and touch
/// the database only to load the rows a batch concerns and write them back, a few
/// statements per batch rather than per event, which is what makes rebuilds fast.
#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The projector's name, also the name of its view (`campaigns`, `partners`).
    fn name(&self) -> &'static str;

    /// The live tables it writes (each has a shadow copy during a rebuild).
    fn tables(&self) -> &'static [&'static str];

    /// Applies a batch of events, in order, to `tables`, inside the caller's
    /// transaction (which also advances the checkpoint). Events of other aggregate
    /// types are ignored.
    async fn apply(
        &self,
        tx: &mut dyn ViewTransaction,
        tables: Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ApplyError>;
}

/// Decodes a recorded event into a domain event, through the upcasters: old event
/// versions are read as the current one.
pub fn decode<E: DeserializeOwned>(
    event: &RecordedEvent,
    upcasters: &[Box<dyn EventUpcaster>],
) -> Result<E, String> {
    let mut serialized = SerializedEvent::new(
        event.aggregate_id.clone(),
        event.sequence as usize,
        event.aggregate_type.clone(),
        event.event_type.clone(),
        event.event_version.clone(),
        event.payload.clone(),
        event.metadata.clone(),
    );
    for upcaster in upcasters {
        if upcaster.can_upcast(&serialized.event_type, &serialized.event_version) {
            serialized = upcaster.upcast(serialized);
        }
    }
    serde_json::from_value(serialized.payload).map_err(|error| {
        format!(
            "{} {} v{}: {error}",
            event.event_id, event.event_type, event.event_version
        )
    })
}
