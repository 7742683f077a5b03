//! Bearer tokens: [`Verifier`] (every request) and [`Issuer`] (`alpes token issue`).
//!
//! One algorithm is accepted, the one the configured key is for: HS256 for a secret,
//! EdDSA or RS256 for a public key (read from its PEM). A token that names another
//! (`none`, or HS256 signed with the public key as its secret: the classic algorithm
//! switch) is refused before any signature is checked. `exp` is required; `nbf` is
//! checked when present; both with a small leeway for clocks that disagree.

use crate::principal::{Principal, Role};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The shortest HS256 secret accepted: 256 bits, as RFC 7518 (3.2) asks of the key.
pub const MIN_SECRET_BYTES: usize = 32;

/// How far clocks may disagree on `exp` and `nbf`.
const LEEWAY: Duration = Duration::from_secs(30);

/// The key tokens are verified with.
#[derive(Clone)]
pub enum KeySource {
    /// HS256: `ALPES_JWT_SECRET`, or the embedded default's generated secret.
    Secret(SecretString),
    /// EdDSA or RS256: an identity provider's public key (`ALPES_JWT_PUBLIC_KEY`), PEM.
    PublicKey { path: PathBuf, pem: Vec<u8> },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Secret(_) => f.write_str("Secret([redacted])"),
            KeySource::PublicKey { path, .. } => write!(f, "PublicKey({})", path.display()),
        }
    }
}

/// What tokens must be to be accepted.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub key: KeySource,
    /// `iss` must be this, when set.
    pub issuer: Option<String>,
    /// `aud` must name this, when set.
    pub audience: Option<String>,
}

impl TokenSettings {
    /// HS256 with `secret`, no issuer or audience.
    pub fn secret(secret: impl Into<String>) -> Self {
        TokenSettings {
            key: KeySource::Secret(SecretString::from(secret.into())),
            issuer: None,
            audience: None,
        }
    }
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the JWT secret is {0} bytes long; it must be at least {MIN_SECRET_BYTES} (e.g. `openssl rand -base64 32`)")]
    ShortSecret(usize),
    #[error("{0} is not an Ed25519 or RSA public key in PEM form")]
    NotAPublicKey(String),
    #[error("tokens are verified with a public key here: the identity provider that holds its private key issues them")]
    CannotIssue,
}

/// Why a token was refused (the detail of the 401; never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's algorithm is not the one this server accepts")]
    WrongAlgorithm,
    #[error("the token was not issued by the expected issuer")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
    #[error("the token has no {0} claim")]
    MissingClaim(String),
    #[error("the token's role must be one of admin, brand, partner, tracker, reader")]
    UnknownRole,
    #[error("{0}")]
    InvalidClaims(&'static str),
    #[error("the token is malformed")]
    Malformed,
}

/// The claims read from a token (the registered ones are checked by `jsonwebtoken`
/// on the raw payload, whatever their form).
#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    role: Option<String>,
    #[serde(default)]
    brand_id: Option<String>,
    #[serde(default)]
    partner_id: Option<String>,
}

/// The claims of an issued token.
#[derive(Serialize)]
struct IssuedClaims<'a> {
    sub: &'a str,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    brand_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partner_id: Option<&'a str>,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// Verifies tokens; built once at startup.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Verifier {
    pub fn new(settings: &TokenSettings) -> Result<Self, KeyError> {
        let (key, algorithm) = match &settings.key {
            KeySource::Secret(secret) => {
                let secret = secret.expose_secret().as_bytes();
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(KeyError::ShortSecret(secret.len()));
                }
                (DecodingKey::from_secret(secret), Algorithm::HS256)
            }
            KeySource::PublicKey { path, pem } => match DecodingKey::from_ed_pem(pem) {
                Ok(key) => (key, Algorithm::EdDSA),
                Err(_) => match DecodingKey::from_rsa_pem(pem) {
                    Ok(key) => (key, Algorithm::RS256),
                    Err(_) => return Err(KeyError::NotAPublicKey(path.display().to_string())),
                },
            },
        };
        // Only this algorithm: the token's `alg` cannot choose another.
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        // `iss` and `aud`, when expected, must be there too (a token without them would
        // otherwise pass their checks).
        let mut required = vec!["exp"];
        required.extend(settings.issuer.as_ref().map(|_| "iss"));
        required.extend(settings.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        match &settings.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        // With no audience configured, a token that names one is refused: it was minted
        // for another service (RFC 7519, 4.1.3).
        if let Some(audience) = &settings.audience {
            validation.set_audience(&[audience]);
        }
        Ok(Verifier { key, validation })
    }

    /// The principal a token speaks for, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|error| match error.into_kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm
                | ErrorKind::InvalidAlgorithmName
                | ErrorKind::MissingAlgorithm => TokenError::WrongAlgorithm,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::MissingRequiredClaim(claim) => TokenError::MissingClaim(claim),
                _ => TokenError::Malformed,
            })?
            .claims;
        let sub = claims.sub.ok_or_else(|| TokenError::MissingClaim("sub".into()))?;
        let role = claims
            .role
            .ok_or_else(|| TokenError::MissingClaim("role".into()))?;
        let role = Role::parse(&role).ok_or(TokenError::UnknownRole)?;
        Principal {
            sub,
            role,
            brand_id: claims.brand_id,
            partner_id: claims.partner_id,
        }
        .validated()
        .map_err(TokenError::InvalidClaims)
    }
}

/// Signs HS256 tokens with the configured secret (`alpes token issue`).
pub struct Issuer {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Issuer {
    pub fn new(settings: &TokenSettings) -> Result<Self, KeyError> {
        let KeySource::Secret(secret) = &settings.key else {
            return Err(KeyError::CannotIssue);
        };
        let secret = secret.expose_secret().as_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::ShortSecret(secret.len()));
        }
        Ok(Issuer {
            key: EncodingKey::from_secret(secret),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    /// A token for `principal`, valid for `ttl` from now.
    pub fn issue(&self, principal: &Principal, ttl: Duration) -> Result<String, TokenError> {
        let principal = principal.clone().validated().map_err(TokenError::InvalidClaims)?;
        let now = jsonwebtoken::get_current_timestamp();
        let claims = IssuedClaims {
            sub: &principal.sub,
            role: principal.role,
            brand_id: principal.brand_id.as_deref(),
            partner_id: principal.partner_id.as_deref(),
            iat: now,
            exp: now.saturating_add(ttl.as_secs()),
            iss: self.issuer.as_deref(),
            aud: self.audience.as_deref(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|_| TokenError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_issued_token_verifies_to_its_principal() {
        let settings = TokenSettings::secret(SECRET);
        let token = Issuer::new(&settings)
            .unwrap()
            .issue(&Principal::brand("alice", "b-1"), Duration::from_secs(60))
            .unwrap();
        let principal = Verifier::new(&settings).unwrap().verify(&token).unwrap();
        assert_eq!(principal, Principal::brand("alice", "b-1"));
    }

    #[test]
    fn a_short_secret_is_refused_at_startup() {
        assert!(matches!(
            Verifier::new(&TokenSettings::secret("short")),
            Err(KeyError::ShortSecret(5))
        ));
        assert!(Issuer::new(&TokenSettings::secret("short")).is_err());
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let expecting = TokenSettings {
            issuer: Some("https://id.example.com".into()),
            audience: Some("alpes".into()),
            ..TokenSettings::secret(SECRET)
        };
        let verifier = Verifier::new(&expecting).unwrap();
        let admin = Principal::new("ops", Role::Admin);
        let ttl = Duration::from_secs(60);
        let good = Issuer::new(&expecting).unwrap().issue(&admin, ttl).unwrap();
        assert!(verifier.verify(&good).is_ok());
        let bare = Issuer::new(&TokenSettings::secret(SECRET))
            .unwrap()
            .issue(&admin, ttl)
            .unwrap();
        assert!(matches!(verifier.verify(&bare), Err(TokenError::MissingClaim(_))));
        let other = TokenSettings {
            issuer: Some("https://evil.example.com".into()),
            ..expecting.clone()
        };
        let wrong_issuer = Issuer::new(&other).unwrap().issue(&admin, ttl).unwrap();
        assert_eq!(verifier.verify(&wrong_issuer), Err(TokenError::WrongIssuer));
        let other = TokenSettings {
            audience: Some("someone-else".into()),
            ..expecting
        };
        let wrong_audience = Issuer::new(&other).unwrap().issue(&admin, ttl).unwrap();
        assert_eq!(verifier.verify(&wrong_audience), Err(TokenError::WrongAudience));
        // A token for some audience, where none is expected: minted for another service.
        let anywhere = Verifier::new(&TokenSettings::secret(SECRET)).unwrap();
        assert_eq!(anywhere.verify(&wrong_audience), Err(TokenError::WrongAudience));
    }

    #[test]
    fn a_key_file_that_is_not_a_public_key_is_refused() {
        let settings = TokenSettings {
            key: KeySource::PublicKey {
                path: "key.pem".into(),
                pem: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".to_vec(),
            },
            issuer: None,
            audience: None,
        };
        assert!(matches!(
            Verifier::new(&settings),
            Err(KeyError::NotAPublicKey(_))
        ));
        assert!(matches!(Issuer::new(&settings), Err(KeyError::CannotIssue)));
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let settings = TokenSettings::secret(SECRET);
        assert!(!format!("{settings:?}").contains(SECRET));
    }
}
