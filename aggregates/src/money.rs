//! Money as the domain understands it: a positive amount in an ISO 4217 currency, never more
//! precise than that currency's minor unit.
//!
//! Amounts are exact decimals ([`rust_decimal::Decimal`]), never floats, and arrive as decimal
//! strings: the API hands over the shortest decimal text of the JSON number, so `10000` and
//! `99.95` are parsed exactly as the client wrote them. A [`Money`] is stored rescaled to the
//! currency's minor units, which makes its serialized form canonical
//! (`{"amount":"10000.00","currency":"USD"}`, `{"amount":"5000","currency":"JPY"}`): the same
//! value always produces the same stored event.

use std::fmt;

use rust_decimal::Decimal;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{DomainError, ErrorCategory};
use crate::text::excerpt;

/// An active ISO 4217 currency.
///
/// Only currencies that can carry a budget are known: funds (e.g. `BOV`, `USN`), units of account
/// (e.g. `CLF`, `UYW`), precious metals (`XAU`, ...), `XDR`, and the testing codes are not.
/// Serialized as its three-letter code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    minor_units: u32,
}

impl Currency {
    /// Looks up a currency by its alphabetic code, in any letter case and ignoring surrounding
    /// whitespace (`"usd"` is `USD`).
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let trimmed = code.trim();
        let unknown = || MoneyError::UnknownCurrency {
            code: trimmed.to_owned(),
        };
        if trimmed.len() != 3 {
            return Err(unknown());
        }
        let upper = trimmed.to_ascii_uppercase();
        ISO_4217
            .binary_search_by(|(known, _)| (*known).cmp(upper.as_str()))
            .ok()
            .and_then(|index| ISO_4217.get(index))
            .map(|&(code, minor_units)| Self { code, minor_units })
            .ok_or_else(unknown)
    }

    /// The uppercase three-letter code, e.g. `"USD"`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// How many decimal places amounts in this currency have (2 for USD, 0 for JPY, 3 for KWD).
    pub fn minor_units(&self) -> u32 {
        self.minor_units
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Self::parse(&code).map_err(de::Error::custom)
    }
}

/// Amounts must stay below 10^15 units, i.e. have at most this many integer digits. That is far
/// beyond any campaign budget while leaving room to sum many budgets without overflow.
const MAX_INTEGER_DIGITS: usize = 15;

/// A strictly positive amount of one currency, exact to the currency's minor unit.
///
/// Construct it with [`Money::parse`]; deserialization runs the same validation, so a `Money`
/// always upholds its rules wherever it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "MoneyRecord", try_from = "MoneyRecord")]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Validates a decimal `amount` text in the given `currency` code.
    ///
    /// The currency is checked first, because how many decimals are allowed depends on it. The
    /// amount (surrounding whitespace ignored) must be plain decimal notation: digits with an
    /// optional fractional part, an optional leading `-` only so that negative numbers are
    /// reported as such; no `+`, exponent, thousands separator or bare `.`. It must be greater
    /// than zero, below 10^15, and have no more significant decimals than the currency's minor
    /// units (trailing zeros do not count: `"10.000"` is fine in USD).
    pub fn parse(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let currency = Currency::parse(currency)?;
        let amount = parse_amount(amount, currency)?;
        Ok(Self { amount, currency })
    }

    /// The amount, always with exactly [`Currency::minor_units`] decimal places.
    pub fn amount(&self) -> Decimal {
        self.amount
    }

    /// The currency of the amount.
    pub fn currency(&self) -> Currency {
        self.currency
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// Parses `text` as a positive amount of `currency` rescaled to its minor units.
///
/// The text is checked digit by digit rather than handed to a general decimal parser, so that
/// every rejection gets a precise reason and no notation slips through by accident.
fn parse_amount(text: &str, currency: Currency) -> Result<Decimal, MoneyError> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let is_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let dangling_point = unsigned.ends_with('.');
    if integer.is_empty() || dangling_point || !is_digits(integer) || !is_digits(fraction) {
        return Err(MoneyError::InvalidAmount);
    }

    let integer = integer.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    if negative || (integer.is_empty() && fraction.is_empty()) {
        return Err(MoneyError::NonPositiveAmount);
    }
    let minor_units = currency.minor_units();
    if fraction.len() > minor_units as usize {
        return Err(MoneyError::TooManyDecimals {
            currency,
            max: minor_units,
        });
    }
    if integer.len() > MAX_INTEGER_DIGITS {
        return Err(MoneyError::AmountTooLarge);
    }

    // At most 15 integer and 3 fractional digits: the mantissa always fits in an i64.
    let padding = minor_units as usize - fraction.len();
    let digits = format!("{integer}{fraction}{}", "0".repeat(padding));
    let mantissa: i64 = digits.parse().map_err(|_| MoneyError::InvalidAmount)?;
    Ok(Decimal::new(mantissa, minor_units))
}

/// The stored shape of [`Money`]: the amount as a string so that no JSON reader turns it into a
/// float, with exactly the currency's decimals.
#[derive(Serialize, Deserialize)]
struct MoneyRecord {
    amount: String,
    currency: String,
}

impl From<Money> for MoneyRecord {
    fn from(money: Money) -> Self {
        Self {
            amount: money.amount.to_string(),
            currency: money.currency.code.to_owned(),
        }
    }
}

impl TryFrom<MoneyRecord> for Money {
    type Error = MoneyError;

    fn try_from(record: MoneyRecord) -> Result<Self, Self::Error> {
        Self::parse(&record.amount, &record.currency)
    }
}

/// Why an amount or currency was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The amount is not plain decimal notation.
    #[error("amount must be a plain decimal number such as 10000 or 99.95")]
    InvalidAmount,
    /// The amount is zero or negative.
    #[error("amount must be greater than zero")]
    NonPositiveAmount,
    /// The amount is more precise than the currency's minor unit.
    #[error("{}", too_many_decimals(.currency, *.max))]
    TooManyDecimals {
        /// The currency whose minor unit was exceeded.
        currency: Currency,
        /// How many decimals that currency allows.
        max: u32,
    },
    /// The amount is 10^15 or more.
    #[error("amount must be less than 1000000000000000 (10^15)")]
    AmountTooLarge,
    /// The currency code is not an active ISO 4217 currency.
    #[error("currency '{}' is not an ISO 4217 code", excerpt(.code))]
    UnknownCurrency {
        /// The code as given (trimmed).
        code: String,
    },
}

fn too_many_decimals(currency: &Currency, max: u32) -> String {
    match max {
        0 => format!("{currency} amounts cannot have decimals"),
        1 => format!("{currency} amounts allow at most 1 decimal place"),
        _ => format!("{currency} amounts allow at most {max} decimal places"),
    }
}

impl DomainError for MoneyError {
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidAmount => "money.invalid_amount",
            Self::NonPositiveAmount => "money.non_positive_amount",
            Self::TooManyDecimals { .. } => "money.too_many_decimals",
            Self::AmountTooLarge => "money.amount_too_large",
            Self::UnknownCurrency { .. } => "money.unknown_currency",
        }
    }

    /// Relative to the money object: `"amount"` or `"currency"`. Errors that embed a
    /// `MoneyError` prefix it with their own field, e.g. `"budget.amount"`.
    fn field(&self) -> Option<String> {
        let field = match self {
            Self::UnknownCurrency { .. } => "currency",
            _ => "amount",
        };
        Some(field.to_owned())
    }

    fn category(&self) -> ErrorCategory {
        ErrorCategory::Rule
    }
}

/// Active ISO 4217 currencies and their minor units, sorted by code for binary search.
///
/// Source: the ISO 4217 maintenance agency's list one (2025), without funds, units of account,
/// precious metals, SDR and testing codes. Withdrawn codes (e.g. `HRK`, `ANG`, `SLL`, `ZWL`) are
/// absent; their replacements (`EUR`, `XCG`, `SLE`, `ZWG`) are present.
const ISO_4217: &[(&str, u32)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// Significant digits a JSON number (an IEEE 754 double) carries exactly.
const MAX_EXACT_DIGITS: usize = 15;

/// Reads an amount from a request body as decimal text, from a string (exact, preferred)
/// or a JSON number, for `#[serde(deserialize_with)]`; [`Money::parse`] then checks it.
/// A JSON number arrives as an f64, whose shortest round-trip form is the decimal the
/// client wrote for any amount of up to 15 significant digits; a longer one is refused
/// rather than silently rounded. (Pure parsing: no I/O, like the rest of this crate.)
pub fn amount_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct DecimalText;
    impl de::Visitor<'_> for DecimalText {
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

    fn usd(amount: &str) -> Result<Money, MoneyError> {
        Money::parse(amount, "USD")
    }

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        assert!(ISO_4217.len() > 150);
        assert!(ISO_4217.windows(2).all(|pair| pair[0].0 < pair[1].0));
        for (code, minor_units) in ISO_4217 {
            assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(*minor_units <= 3, "{code}");
        }
    }

    #[test]
    fn currency_parse_ignores_case_and_whitespace() {
        assert_eq!(currency("usd").code(), "USD");
        assert_eq!(currency(" Eur ").code(), "EUR");
        assert_eq!(currency("USD"), currency("usd"));
    }

    #[test]
    fn currency_minor_units_follow_iso_4217() {
        for (code, units) in [
            ("USD", 2),
            ("EUR", 2),
            ("COP", 2),
            ("MXN", 2),
            ("BRL", 2),
            ("GBP", 2),
            ("JPY", 0),
            ("CLP", 0),
            ("KRW", 0),
            ("KWD", 3),
            ("BHD", 3),
        ] {
            assert_eq!(currency(code).minor_units(), units, "{code}");
        }
    }

    #[test]
    fn currency_parse_rejects_unknown_codes() {
        for code in ["XYZ", "", "US", "USDD", "XAU", "XDR", "HRK", "ÜSD"] {
            assert_eq!(
                Currency::parse(code),
                Err(MoneyError::UnknownCurrency {
                    code: code.to_owned()
                }),
                "{code}"
            );
        }
    }

    #[test]
    fn currency_serializes_as_code() {
        assert_eq!(serde_json::to_string(&currency("usd")).unwrap(), "\"USD\"");
        assert_eq!(
            serde_json::from_str::<Currency>("\"JPY\"").unwrap(),
            currency("JPY")
        );
        assert!(serde_json::from_str::<Currency>("\"XYZ\"").is_err());
    }

    #[test]
    fn amount_is_rescaled_to_the_minor_units() {
        assert_eq!(usd("10000").unwrap().amount().to_string(), "10000.00");
        assert_eq!(usd("99.9").unwrap().amount().to_string(), "99.90");
        assert_eq!(usd(" 0.01 ").unwrap().amount().to_string(), "0.01");
        assert_eq!(usd("007").unwrap().amount().to_string(), "7.00");
        let yen = Money::parse("5000", "jpy").unwrap();
        assert_eq!(yen.amount().to_string(), "5000");
        assert_eq!(yen.currency().code(), "JPY");
        let dinar = Money::parse("1.5", "KWD").unwrap();
        assert_eq!(dinar.amount().to_string(), "1.500");
    }

    #[test]
    fn trailing_zeros_beyond_the_minor_units_are_allowed() {
        assert_eq!(usd("10.000").unwrap().amount().to_string(), "10.00");
        assert_eq!(
            Money::parse("5000.00", "JPY").unwrap().amount().to_string(),
            "5000"
        );
    }

    #[test]
    fn too_many_decimals_is_rejected() {
        assert_eq!(
            usd("10.005"),
            Err(MoneyError::TooManyDecimals {
                currency: currency("USD"),
                max: 2
            })
        );
        assert_eq!(
            Money::parse("5000.5", "JPY"),
            Err(MoneyError::TooManyDecimals {
                currency: currency("JPY"),
                max: 0
            })
        );
        assert_eq!(
            Money::parse("1.0001", "KWD"),
            Err(MoneyError::TooManyDecimals {
                currency: currency("KWD"),
                max: 3
            })
        );
    }

    #[test]
    fn zero_and_negative_amounts_are_rejected() {
        for amount in ["0", "0.00", "-1", "-0", "-10.5"] {
            assert_eq!(usd(amount), Err(MoneyError::NonPositiveAmount), "{amount}");
        }
    }

    #[test]
    fn malformed_amounts_are_rejected() {
        for amount in [
            "", " ", "abc", "1e5", "1E5", "+5", "1,000", "1_000", "1.", ".5", "-", "1.2.3", "0x10", "١٠",
            "NaN", "inf", "10 000",
        ] {
            assert_eq!(usd(amount), Err(MoneyError::InvalidAmount), "{amount:?}");
        }
    }

    #[test]
    fn amounts_of_ten_to_the_fifteen_or_more_are_rejected() {
        assert!(usd("999999999999999.99").is_ok());
        assert_eq!(usd("1000000000000000"), Err(MoneyError::AmountTooLarge));
        assert_eq!(usd(&"9".repeat(40)), Err(MoneyError::AmountTooLarge));
    }

    #[test]
    fn currency_is_checked_before_the_amount() {
        assert_eq!(
            Money::parse("abc", "XYZ"),
            Err(MoneyError::UnknownCurrency {
                code: "XYZ".to_owned()
            })
        );
    }

    #[test]
    fn money_serializes_amount_as_string_with_minor_units() {
        let json = serde_json::to_string(&usd("10000").unwrap()).unwrap();
        assert_eq!(json, r#"{"amount":"10000.00","currency":"USD"}"#);
        let json = serde_json::to_string(&Money::parse("5000", "JPY").unwrap()).unwrap();
        assert_eq!(json, r#"{"amount":"5000","currency":"JPY"}"#);
    }

    #[test]
    fn money_deserializes_and_validates() {
        let money: Money = serde_json::from_str(r#"{"amount":"10000.00","currency":"USD"}"#).unwrap();
        assert_eq!(money, usd("10000").unwrap());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"-1","currency":"USD"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":"1","currency":"XYZ"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":1,"currency":"USD"}"#).is_err());
    }

    #[test]
    fn errors_have_codes_fields_and_sentences() {
        let cases = [
            (usd("x").unwrap_err(), "money.invalid_amount", "amount"),
            (usd("0").unwrap_err(), "money.non_positive_amount", "amount"),
            (usd("1.001").unwrap_err(), "money.too_many_decimals", "amount"),
            (
                usd("1000000000000000").unwrap_err(),
                "money.amount_too_large",
                "amount",
            ),
            (
                Money::parse("1", "XYZ").unwrap_err(),
                "money.unknown_currency",
                "currency",
            ),
        ];
        for (error, code, field) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.field().as_deref(), Some(field));
            assert_eq!(error.category(), ErrorCategory::Rule);
        }
        assert_eq!(
            Money::parse("1", "XYZ").unwrap_err().to_string(),
            "currency 'XYZ' is not an ISO 4217 code"
        );
        assert_eq!(
            usd("1.001").unwrap_err().to_string(),
            "USD amounts allow at most 2 decimal places"
        );
        assert_eq!(
            Money::parse("1.5", "JPY").unwrap_err().to_string(),
            "JPY amounts cannot have decimals"
        );
    }
}
