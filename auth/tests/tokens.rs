//! The tokens a server accepts and those it refuses, whatever a client forges.

use auth::{KeySource, Principal, Role, TokenError, TokenSettings, Verifier};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "a-test-secret-of-thirty-two-bytes-at-least";

/// Test-only key pairs (generated for these tests; they protect nothing).
const ED25519_PRIVATE: &[u8] = include_bytes!("keys/ed25519-private.pem");
const ED25519_PUBLIC: &[u8] = include_bytes!("keys/ed25519-public.pem");
const RSA_PRIVATE: &[u8] = include_bytes!("keys/rsa-private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("keys/rsa-public.pem");

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn claims(extra: Value) -> Value {
    let mut claims = json!({"sub": "alice", "role": "admin", "exp": now() + 600});
    for (key, value) in extra.as_object().unwrap() {
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(key),
            value => claims.as_object_mut().unwrap().insert(key.clone(), value.clone()),
        };
    }
    claims
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn secret_verifier() -> Verifier {
    Verifier::new(&TokenSettings::secret(SECRET)).unwrap()
}

fn public_key_verifier(pem: &[u8]) -> Verifier {
    Verifier::new(&TokenSettings {
        key: KeySource::PublicKey {
            path: "key.pem".into(),
            pem: pem.to_vec(),
        },
        issuer: None,
        audience: None,
    })
    .unwrap()
}

#[test]
fn a_well_signed_token_names_its_principal() {
    let token = hs256(
        &claims(json!({"role": "brand", "brand_id": "b-1"})),
        SECRET.as_bytes(),
    );
    assert_eq!(
        secret_verifier().verify(&token),
        Ok(Principal::brand("alice", "b-1"))
    );
}

#[test]
fn an_identity_providers_eddsa_and_rs256_tokens_verify_with_its_public_key() {
    let eddsa = encode(
        &Header::new(Algorithm::EdDSA),
        &claims(json!({"role": "reader"})),
        &EncodingKey::from_ed_pem(ED25519_PRIVATE).unwrap(),
    )
    .unwrap();
    let principal = public_key_verifier(ED25519_PUBLIC).verify(&eddsa).unwrap();
    assert_eq!(principal.role, Role::Reader);

    let rs256 = encode(
        &Header::new(Algorithm::RS256),
        &claims(json!({"role": "tracker"})),
        &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
    )
    .unwrap();
    let principal = public_key_verifier(RSA_PUBLIC).verify(&rs256).unwrap();
    assert_eq!(principal.role, Role::Tracker);
    // Each key accepts its own algorithm only.
    assert!(public_key_verifier(ED25519_PUBLIC).verify(&rs256).is_err());
    assert!(public_key_verifier(RSA_PUBLIC).verify(&eddsa).is_err());
}

#[test]
fn a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused() {
    // The classic algorithm switch: HS256 "signed" with the public key, which anyone has.
    let switched = hs256(&claims(json!({})), RSA_PUBLIC);
    assert_eq!(
        public_key_verifier(RSA_PUBLIC).verify(&switched),
        Err(TokenError::WrongAlgorithm)
    );
    let switched = hs256(&claims(json!({})), ED25519_PUBLIC);
    assert_eq!(
        public_key_verifier(ED25519_PUBLIC).verify(&switched),
        Err(TokenError::WrongAlgorithm)
    );
}

#[test]
fn an_unsigned_token_is_refused() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
    for token in [format!("{header}.{payload}."), format!("{header}.{payload}")] {
        assert!(secret_verifier().verify(&token).is_err(), "{token}");
    }
}

#[test]
fn a_tampered_or_truncated_token_is_refused() {
    let token = hs256(&claims(json!({"role": "reader"})), SECRET.as_bytes());
    let parts: Vec<&str> = token.split('.').collect();
    let promoted = URL_SAFE_NO_PAD.encode(claims(json!({"role": "admin"})).to_string());
    let tampered = format!("{}.{promoted}.{}", parts[0], parts[2]);
    assert_eq!(secret_verifier().verify(&tampered), Err(TokenError::BadSignature));
    let truncated = &token[..token.len() - 5];
    assert!(secret_verifier().verify(truncated).is_err());
    assert_eq!(
        secret_verifier().verify("not-a-token"),
        Err(TokenError::Malformed)
    );
    assert_eq!(secret_verifier().verify(""), Err(TokenError::Malformed));
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let token = hs256(&claims(json!({})), b"another-secret-of-thirty-two-bytes-or-so");
    assert_eq!(secret_verifier().verify(&token), Err(TokenError::BadSignature));
}

#[test]
fn expiry_is_required_and_checked_with_a_small_leeway() {
    let expired = hs256(&claims(json!({"exp": now() - 120})), SECRET.as_bytes());
    assert_eq!(secret_verifier().verify(&expired), Err(TokenError::Expired));
    let just_expired = hs256(&claims(json!({"exp": now() - 5})), SECRET.as_bytes());
    assert!(
        secret_verifier().verify(&just_expired).is_ok(),
        "within the leeway"
    );
    let forever = hs256(&claims(json!({"exp": null})), SECRET.as_bytes());
    assert_eq!(
        secret_verifier().verify(&forever),
        Err(TokenError::MissingClaim("exp".into()))
    );
}

#[test]
fn a_token_not_valid_yet_is_refused() {
    let early = hs256(&claims(json!({"nbf": now() + 120})), SECRET.as_bytes());
    assert_eq!(secret_verifier().verify(&early), Err(TokenError::NotYetValid));
    let nearly = hs256(&claims(json!({"nbf": now() + 5})), SECRET.as_bytes());
    assert!(secret_verifier().verify(&nearly).is_ok(), "within the leeway");
}

#[test]
fn the_claims_must_make_a_principal() {
    let verify = |extra: Value| secret_verifier().verify(&hs256(&claims(extra), SECRET.as_bytes()));
    assert_eq!(verify(json!({"role": "root"})), Err(TokenError::UnknownRole));
    assert_eq!(
        verify(json!({"role": null})),
        Err(TokenError::MissingClaim("role".into()))
    );
    assert_eq!(
        verify(json!({"sub": null})),
        Err(TokenError::MissingClaim("sub".into()))
    );
    assert!(matches!(
        verify(json!({"role": "brand"})),
        Err(TokenError::InvalidClaims(_))
    ));
    assert!(matches!(
        verify(json!({"role": "partner"})),
        Err(TokenError::InvalidClaims(_))
    ));
    assert!(matches!(verify(json!({"role": 7})), Err(TokenError::Malformed)));
}
