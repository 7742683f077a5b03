//! [`Moment`]: a point in time as clients send one: an RFC 3339 date-time, or epoch
//! milliseconds (what the previous system's clients send as `fecha`). Read by the
//! tracking service's bodies and the seed front door's.

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A moment given as an RFC 3339 date-time (`"2026-11-22T10:00:00Z"`) or as epoch
/// milliseconds (`1795341600000`, what the seed's clients send as `fecha`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment(pub DateTime<Utc>);

impl<'de> Deserialize<'de> for Moment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MomentVisitor;
        const EXPECTED: &str = "an RFC 3339 date-time such as \"2026-11-22T10:00:00Z\" or epoch milliseconds";
        fn from_millis<E: de::Error>(millis: i64) -> Result<Moment, E> {
            DateTime::from_timestamp_millis(millis)
                .map(Moment)
                .ok_or_else(|| E::custom(format!("{millis} is out of range for epoch milliseconds")))
        }
        impl Visitor<'_> for MomentVisitor {
            type Value = Moment;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Moment, E> {
                DateTime::parse_from_rfc3339(v.trim())
                    .map(|moment| Moment(moment.with_timezone(&Utc)))
                    .map_err(|error| E::custom(format!("{v:?} is not {EXPECTED}: {error}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Moment, E> {
                from_millis(v)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Moment, E> {
                let millis = i64::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))?;
                from_millis(millis)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Moment, E> {
                // 1.7e12 arrives as a float; a fraction of a millisecond is not a moment we keep.
                if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
                    // Whole and within ±9e15: the cast is exact.
                    from_millis(v as i64)
                } else {
                    Err(E::custom(format!("{v} is not whole epoch milliseconds")))
                }
            }
        }
        deserializer.deserialize_any(MomentVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moment(json: &str) -> Result<Moment, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn occurred_at_accepts_rfc3339_and_epoch_milliseconds() {
        let expected = DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(moment(r#""2026-11-22T10:00:00Z""#).unwrap().0, expected);
        assert_eq!(moment(r#""2026-11-22T11:00:00+01:00""#).unwrap().0, expected);
        let millis = expected.timestamp_millis();
        assert_eq!(moment(&millis.to_string()).unwrap().0, expected);
        assert_eq!(moment(&format!("{millis}.0")).unwrap().0, expected);
    }

    #[test]
    fn occurred_at_refuses_anything_else_without_panicking() {
        for json in [
            r#""yesterday""#,
            r#""2026-11-22""#,
            "1.5",
            "1e300",
            "18446744073709551615",
            "-9223372036854775808",
            "true",
            "[]",
            "{}",
        ] {
            assert!(moment(json).is_err(), "{json}");
        }
    }
}
