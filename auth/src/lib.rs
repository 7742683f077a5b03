//! Who is calling, and what they may do: the bearer tokens (JWTs) of both HTTP
//! services (`api` and `tracking`) and the rules that let a request through.
//!
//! A request carries `Authorization: Bearer <JWT>`. The token is verified with the one
//! configured key (HS256 with a secret, or EdDSA / RS256 with an identity provider's
//! public key) and becomes a [`Principal`]: a subject (`sub`), a [`Role`], and the
//! brand or partner it acts for. Each service declares, in one table of [`Rule`]s, which
//! roles may call each of its routes; [`Authentication::protect`] puts that table in
//! front of its router. What a role may see *within* a route (a brand's own campaigns
//! only) is the handlers' business: they read the [`Principal`] the guard left on the
//! request.
//!
//! Answers (RFC 9457 problems, through the `problem` crate):
//! - no token, or one that does not verify (bad signature, expired, not yet valid, wrong
//!   issuer or audience, malformed): **401** with `WWW-Authenticate: Bearer`;
//! - a valid token whose role may not call the route: **403**.
//!
//! # Layout
//! - `principal`: [`Principal`] and [`Role`], and the audit metadata keys
//!   ([`AUDIT_SUBJECT`], [`AUDIT_ROLE`]) under which every event records who caused it.
//! - `tokens`: [`TokenSettings`] (the key, issuer, audience), [`Verifier`] and
//!   [`Issuer`] (HS256 only: `alpes token issue`).
//! - `secret_file`: the embedded default's secret, generated on the first start and
//!   kept in the data directory (mode 0600).
//! - `guard`: [`Rule`], [`Access`], [`Authentication`] and the middleware that applies
//!   them; the 401 and 403 problems.

mod guard;
mod principal;
mod secret_file;
mod tokens;

pub use guard::{Access, AuthError, Authentication, Rule};
pub use principal::{Principal, Role, AUDIT_ROLE, AUDIT_SUBJECT};
pub use secret_file::{load_or_create_secret, EmbeddedSecret, SECRET_FILE};
pub use tokens::{Issuer, KeyError, KeySource, TokenError, TokenSettings, Verifier, MIN_SECRET_BYTES};
