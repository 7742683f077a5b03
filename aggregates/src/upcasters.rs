//! Upcasters: read old versions of stored events as the current ones.

use cqrs_es::persist::EventUpcaster;

/// Every upcaster, for the event store and the projectors.
pub fn all() -> Vec<Box<dyn EventUpcaster>> {
    Vec::new()
}
