//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` that
//! follows one request from the HTTP call through the events it causes, the messages
//! the relay publishes and the tracking service's records.
//!
//! Each hop continues the trace it was given with a span of its own
//! ([`TraceContext::continued`]): the trace id stays, the span id is new. The trace
//! id is what the logs carry (`trace_id`), so that one id finds every line.

use std::fmt;

/// The `traceparent` header, metadata key and CloudEvents extension attribute (the
/// distributed-tracing extension names it so too).
pub const TRACEPARENT: &str = "traceparent";

/// A position in a trace: the trace, this hop's span, and whether the trace is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

/// The `sampled` bit of the trace flags.
const SAMPLED: u8 = 0x01;

impl TraceContext {
    /// A new trace (nobody handed one over), sampled.
    pub fn start() -> Self {
        let mut trace_id = *uuid::Uuid::new_v4().as_bytes();
        // A version 4 UUID fixes six bits; the trace id's first eight bytes take fresh
        // random ones so that the whole id is random, as the specification asks.
        trace_id[..8].copy_from_slice(&random_span_id());
        TraceContext {
            trace_id,
            span_id: random_span_id(),
            flags: SAMPLED,
        }
    }

    /// Reads a `traceparent` value; `None` when it is not one (then a new trace starts,
    /// as the specification asks of a receiver).
    ///
    /// Version `00` must be exactly `00-<32 hex>-<16 hex>-<2 hex>`, in lower case, with
    /// neither id all zeros. A later version is read by its first four fields (what
    /// follows them is that version's own), as the specification asks; `ff` is invalid.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let mut fields = value.splitn(5, '-');
        let version = fields.next()?;
        let trace_id = fields.next()?;
        let span_id = fields.next()?;
        let flags = fields.next()?;
        let rest = fields.next();
        if version.len() != 2 || !is_lower_hex(version) || version == "ff" {
            return None;
        }
        if version == "00" && rest.is_some() {
            return None;
        }
        let context = TraceContext {
            trace_id: hex_bytes(trace_id)?,
            span_id: hex_bytes(span_id)?,
            flags: hex_bytes::<1>(flags)?[0],
        };
        let zero = context.trace_id == [0; 16] || context.span_id == [0; 8];
        (!zero).then_some(context)
    }

    /// This hop's span in the trace `parent` names, or a new trace when there is none
    /// or it cannot be read.
    pub fn continued(parent: Option<&str>) -> Self {
        match parent.and_then(TraceContext::parse) {
            Some(parent) => parent.child(),
            None => TraceContext::start(),
        }
    }

    /// A span of this trace, after this one.
    pub fn child(&self) -> Self {
        TraceContext {
            span_id: random_span_id(),
            ..*self
        }
    }

    /// The trace id, 32 lower-case hex digits: what the logs carry.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// This span's id, 16 lower-case hex digits.
    pub fn span_id(&self) -> String {
        hex(&self.span_id)
    }

    pub fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }
}

/// The `traceparent` value (version `00`).
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex(&self.trace_id),
            hex(&self.span_id),
            self.flags
        )
    }
}

fn random_span_id() -> [u8; 8] {
    loop {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        // The bytes a version 4 UUID leaves random: 0..6 and 9..16 (6 and 8 carry its
        // version and variant bits).
        let id = [
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[9], bytes[10],
        ];
        if id != [0; 8] {
            return id;
        }
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex_bytes<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !is_lower_hex(text) {
        return None;
    }
    let mut bytes = [0u8; N];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn reads_and_writes_the_specifications_example() {
        let context = TraceContext::parse(EXAMPLE).unwrap();
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id(), "00f067aa0ba902b7");
        assert!(context.is_sampled());
        assert_eq!(context.to_string(), EXAMPLE);
    }

    #[test]
    fn a_continued_trace_keeps_its_id_with_a_new_span() {
        let child = TraceContext::continued(Some(EXAMPLE));
        assert_eq!(child.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(child.span_id(), "00f067aa0ba902b7");
        assert_eq!(TraceContext::parse(&child.to_string()), Some(child));
    }

    #[test]
    fn what_is_not_a_traceparent_starts_a_new_trace() {
        for invalid in [
            "",
            "00",
            "garbage",
            // Upper case, wrong lengths, zero ids, version ff, extra fields on 00.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0ü",
        ] {
            assert_eq!(TraceContext::parse(invalid), None, "{invalid:?}");
            let started = TraceContext::continued(Some(invalid));
            assert_ne!(started.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-whatever";
        let context = TraceContext::parse(later).unwrap();
        assert!(!context.is_sampled());
        assert_eq!(
            context.to_string(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        );
    }

    #[test]
    fn new_traces_differ_and_are_well_formed() {
        let (a, b) = (TraceContext::start(), TraceContext::start());
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(TraceContext::parse(&a.to_string()), Some(a));
        assert_eq!(a.trace_id().len(), 32);
    }
}
