//! The money body shared by the endpoints that take an amount.

use aggregates::campaign::MoneyInput;
use serde::Deserialize;
use utoipa::ToSchema;

/// An amount of money. `amount` is an exact decimal, sent as a string (`"10000.00"`,
/// preferred) or a JSON number (`10000`); it is never stored as a float.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    #[serde(deserialize_with = "aggregates::money::amount_text")]
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

#[cfg(test)]
mod tests {
    use super::*;

    // The reader is aggregates::money::amount_text; these pin its use in the body.
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
