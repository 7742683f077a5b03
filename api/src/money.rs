//! The money body shared by the endpoints that take an amount.

use aggregates::campaign::MoneyInput;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use utoipa::ToSchema;

/// An amount of money. `amount` is an exact decimal, sent as a string (`"10000.00"`,
/// preferred) or a JSON number (`10000`); it is never stored as a float.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    #[serde(deserialize_with = "decimal_text")]
    #[schema(value_type = String, example = "10000.00")]
    pub amount: String,
    /// ISO 4217 code, any case.
    #[schema(example = "USD")]
    pub currency: String,
}

impl From<MoneyBody> for MoneyInput {
    fn from(body: MoneyBody) -> Self {
        MoneyInput {
            amount: body.amount,
            currency: body.currency,
        }
    }
}

/// Significant digits a JSON number (an IEEE 754 double) carries exactly.
const MAX_EXACT_DIGITS: usize = 15;

/// Reads a decimal amount as text, from a string or a JSON number; the domain then
/// checks it. A JSON number arrives as an f64, whose shortest round-trip form is the
/// decimal the client wrote for any amount of up to 15 significant digits.
fn decimal_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct DecimalText;
    impl Visitor<'_> for DecimalText {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a decimal amount, as a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            let text = v.to_string();
            let digits = text.trim_start_matches('-').chars().filter(char::is_ascii_digit);
            let significant = digits.skip_while(|d| *d == '0').count();
            if significant > MAX_EXACT_DIGITS {
                return Err(E::custom(format!(
                    "a JSON number with more than {MAX_EXACT_DIGITS} significant digits cannot be read \
                     exactly; send the amount as a string"
                )));
            }
            Ok(text)
        }
    }
    deserializer.deserialize_any(DecimalText)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(json: &str) -> Result<String, serde_json::Error> {
        serde_json::from_str::<MoneyBody>(&format!(r#"{{"amount":{json},"currency":"USD"}}"#))
            .map(|m| m.amount)
    }

    #[test]
    fn amounts_are_read_as_exact_decimal_text() {
        assert_eq!(amount(r#""10000.00""#).unwrap(), "10000.00");
        assert_eq!(amount("10000").unwrap(), "10000");
        assert_eq!(amount("0.1").unwrap(), "0.1");
        assert_eq!(amount("1234567.89").unwrap(), "1234567.89");
        assert_eq!(amount("-5").unwrap(), "-5");
    }

    #[test]
    fn json_numbers_beyond_fifteen_digits_are_refused_rather_than_rounded() {
        assert_eq!(amount("12345678901234.5").unwrap(), "12345678901234.5");
        assert!(amount("100000000000000.01").is_err());
        assert!(amount("12345678901234.83").is_err());
        assert_eq!(amount(r#""100000000000000.01""#).unwrap(), "100000000000000.01");
    }

    #[test]
    fn other_json_types_are_refused() {
        assert!(amount("true").is_err());
        assert!(amount("null").is_err());
        assert!(amount("[1]").is_err());
    }
}
