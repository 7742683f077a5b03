//! The two kinds of partner the platform works with.

use serde::{Deserialize, Serialize};

/// What sort of partner someone is; it decides how their work for a campaign is paid and
/// measured, so both partners and campaign participants carry it.
///
/// Stored (and serialized) in lowercase; [`PartnerKind::parse`] is lenient because existing
/// clients send `"Influencer"` and `"Affiliate"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PartnerKind {
    /// Promotes a brand to their own audience (social media, blogs, ...).
    Influencer,
    /// Refers customers through tracked links and is paid per conversion.
    Affiliate,
}

impl PartnerKind {
    /// Parses a kind in any letter case, ignoring surrounding whitespace.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("influencer") {
            Some(Self::Influencer)
        } else if value.eq_ignore_ascii_case("affiliate") {
            Some(Self::Affiliate)
        } else {
            None
        }
    }

    /// The canonical lowercase name, identical to the serialized form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Influencer => "influencer",
            Self::Affiliate => "affiliate",
        }
    }
}

impl std::fmt::Display for PartnerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_any_case_and_surrounding_spaces() {
        assert_eq!(PartnerKind::parse("Influencer"), Some(PartnerKind::Influencer));
        assert_eq!(PartnerKind::parse("INFLUENCER"), Some(PartnerKind::Influencer));
        assert_eq!(PartnerKind::parse(" affiliate "), Some(PartnerKind::Affiliate));
        assert_eq!(PartnerKind::parse("Affiliate"), Some(PartnerKind::Affiliate));
    }

    #[test]
    fn parse_rejects_other_words() {
        assert_eq!(PartnerKind::parse(""), None);
        assert_eq!(PartnerKind::parse("ambassador"), None);
        assert_eq!(PartnerKind::parse("influencers"), None);
    }

    #[test]
    fn serializes_as_lowercase_name() {
        for kind in [PartnerKind::Influencer, PartnerKind::Affiliate] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<PartnerKind>(&json).unwrap(), kind);
        }
    }
}
