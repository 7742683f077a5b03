//! The guard in front of a service's routes: each route's [`Rule`] says who may call
//! it; [`Authentication`] says how a request proves who it is.

use crate::principal::{Principal, Role};
use crate::tokens::{TokenError, Verifier};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use problem::Problem;
use std::sync::Arc;

/// The subject every request acts as when authentication is off
/// (`--insecure-no-auth`), as the event log records it.
pub const INSECURE_SUBJECT: &str = "insecure-no-auth";

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// Anyone, without a token (`/health`, `/ready`, `/openapi.json`).
    Open,
    /// A token of one of these roles.
    Roles(&'static [Role]),
    /// A route of the seed system's front door: like `Roles`, but without a token it acts
    /// as the configured legacy principal when there is one (`ALPES_BFF_OPEN`).
    Legacy(&'static [Role]),
}

impl Access {
    /// The roles it admits; none for an open route.
    pub fn roles(&self) -> &'static [Role] {
        match self {
            Access::Open => &[],
            Access::Roles(roles) | Access::Legacy(roles) => roles,
        }
    }
}

/// One route's access: `method` on `path` (the route's template, `/campaigns/{id}`).
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

impl Rule {
    pub const fn new(method: Method, path: &'static str, access: Access) -> Self {
        Rule { method, path, access }
    }

    /// The rule of `method` on the route `path` (a template) in `rules`. HEAD is served
    /// by the GET route, and has its rule.
    pub fn find<'a>(rules: &'a [Rule], method: &Method, path: &str) -> Option<&'a Rule> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        rules
            .iter()
            .find(|rule| rule.method == method && rule.path == path)
    }

    /// Who may call `method` on `path`: its rule's access, or admins only for a route
    /// nobody wrote a rule for (forgetting a rule closes a route rather than opens it).
    pub fn access_of(rules: &[Rule], method: &Method, path: &str) -> Access {
        Rule::find(rules, method, path).map_or(Access::Roles(&[Role::Admin]), |rule| rule.access)
    }

    /// Whether `role` may call `method` on `path`.
    pub fn allows(rules: &[Rule], method: &Method, path: &str, role: Role) -> bool {
        Rule::access_of(rules, method, path).roles().contains(&role)
    }
}

/// How requests prove who they are; cheap to clone, built once at startup.
#[derive(Clone)]
pub struct Authentication {
    /// `None`: authentication is off (`--insecure-no-auth`).
    verifier: Option<Arc<Verifier>>,
    /// Who the seed's front door acts as for a request without a token, when its routes
    /// are kept open for legacy clients (`ALPES_BFF_OPEN`).
    legacy: Option<Principal>,
}

impl Authentication {
    /// Bearer tokens, checked by `verifier`.
    pub fn tokens(verifier: Verifier) -> Self {
        Authentication {
            verifier: Some(Arc::new(verifier)),
            legacy: None,
        }
    }

    /// No authentication: every request acts as an admin named [`INSECURE_SUBJECT`].
    /// For a loopback-only development server (`--insecure-no-auth`).
    pub fn insecure_off() -> Self {
        Authentication {
            verifier: None,
            legacy: None,
        }
    }

    /// Requests without a token to the [`Access::Legacy`] routes act as `principal`.
    pub fn with_legacy_principal(mut self, principal: Principal) -> Self {
        self.legacy = Some(principal);
        self
    }

    pub fn is_off(&self) -> bool {
        self.verifier.is_none()
    }

    /// `router` with every route behind its rule in `rules` (a route without one is for
    /// admins only: forgetting a rule closes the route rather than opening it). Routes
    /// added to the router later are not covered.
    pub fn protect<S>(&self, router: Router<S>, rules: &'static [Rule]) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let guard = Guard {
            authentication: self.clone(),
            rules,
        };
        router.route_layer(axum::middleware::from_fn_with_state(guard, authorize))
    }

    /// Who a request with `headers` acts as on a route with `access`: `None` for an
    /// open route, else the principal, or why it may not call the route.
    pub fn admit(&self, headers: &HeaderMap, access: Access) -> Result<Option<Principal>, AuthError> {
        let roles = match access {
            Access::Open => return Ok(None),
            Access::Roles(roles) | Access::Legacy(roles) => roles,
        };
        let principal = match &self.verifier {
            // Off: whatever the request carries.
            None => Principal::new(INSECURE_SUBJECT, Role::Admin),
            Some(verifier) => match bearer(headers)? {
                Some(token) => verifier.verify(token).map_err(AuthError::InvalidToken)?,
                None => match (&self.legacy, access) {
                    (Some(legacy), Access::Legacy(_)) => legacy.clone(),
                    _ => return Err(AuthError::MissingToken),
                },
            },
        };
        if !roles.contains(&principal.role) {
            return Err(AuthError::RoleNotAllowed(principal.role));
        }
        Ok(Some(principal))
    }
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(AuthError::MalformedHeader),
    }
}

#[derive(Clone)]
struct Guard {
    authentication: Authentication,
    rules: &'static [Rule],
}

/// The middleware: admits the request by its route's rule and leaves its
/// [`Principal`] on it for the handler.
async fn authorize(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    // Under `route_layer` every request has its route; one without is for admins too.
    let path = request.extensions().get::<MatchedPath>().cloned();
    let path = path.as_ref().map_or("", MatchedPath::as_str);
    let access = Rule::access_of(guard.rules, request.method(), path);
    match guard.authentication.admit(request.headers(), access) {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Ok(None) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

/// Why a request may not go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header: 401.
    MissingToken,
    /// An `Authorization` header that is not `Bearer <token>`: 401.
    MalformedHeader,
    /// A token that does not verify: 401.
    InvalidToken(TokenError),
    /// A valid token whose role may not call the route: 403.
    RoleNotAllowed(Role),
    /// A valid token, an allowed role, but not on this (a brand creating another
    /// brand's campaign): 403 with what is wrong.
    Forbidden(String),
}

const REALM: &str = r#"Bearer realm="alpes""#;

impl AuthError {
    /// The RFC 9457 problem it answers, with its `WWW-Authenticate` challenge.
    pub fn problem(&self) -> Problem {
        match self {
            AuthError::MissingToken => Problem::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "auth.missing_token",
                "this endpoint needs a bearer token: Authorization: Bearer <token>",
            )
            .with_challenge(REALM),
            AuthError::MalformedHeader => Problem::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "auth.invalid_request",
                "the Authorization header must be `Bearer <token>`",
            )
            .with_field("authorization".to_owned())
            .with_challenge(format!(r#"{REALM}, error="invalid_request""#)),
            AuthError::InvalidToken(why) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "auth.invalid_token",
                why.to_string(),
            )
            .with_challenge(format!(
                r#"{REALM}, error="invalid_token", error_description="{why}""#
            )),
            AuthError::RoleNotAllowed(role) => Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "auth.forbidden",
                format!("a {role} token may not call this endpoint"),
            )
            .with_challenge(format!(r#"{REALM}, error="insufficient_scope""#)),
            AuthError::Forbidden(detail) => Problem::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "auth.forbidden",
                detail.clone(),
            ),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        self.problem().into_response()
    }
}

/// The principal the guard admitted the request as. Only on a guarded, non-open route:
/// elsewhere it is a bug, answered as an opaque 500.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Problem::internal("a handler asked for the principal of an unguarded route"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{Issuer, TokenSettings};
    use axum::body::Body;
    use axum::routing::get;
    use std::time::Duration;
    use tower::ServiceExt;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    static RULES: &[Rule] = &[
        Rule::new(Method::GET, "/open", Access::Open),
        Rule::new(
            Method::GET,
            "/readers",
            Access::Roles(&[Role::Admin, Role::Reader]),
        ),
        Rule::new(Method::GET, "/legacy", Access::Legacy(&[Role::Admin])),
    ];

    fn app(authentication: Authentication) -> Router {
        let router = Router::new()
            .route("/open", get(|| async { "open" }))
            .route(
                "/readers",
                get(|principal: Principal| async move { principal.sub }),
            )
            .route(
                "/legacy",
                get(|principal: Principal| async move { principal.sub }),
            )
            .route("/forgotten", get(|| async { "no rule" }));
        authentication.protect(router, RULES)
    }

    fn token(principal: Principal) -> String {
        Issuer::new(&TokenSettings::secret(SECRET))
            .unwrap()
            .issue(&principal, Duration::from_secs(60))
            .unwrap()
    }

    async fn call(app: &Router, path: &str, authorization: Option<String>) -> Response {
        let mut request = Request::builder().uri(path);
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        app.clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn tokens() -> Authentication {
        Authentication::tokens(Verifier::new(&TokenSettings::secret(SECRET)).unwrap())
    }

    #[tokio::test]
    async fn each_route_admits_the_roles_its_rule_names() {
        let app = app(tokens());
        assert_eq!(call(&app, "/open", None).await.status(), 200);
        let reader = format!("Bearer {}", token(Principal::new("r", Role::Reader)));
        assert_eq!(call(&app, "/readers", Some(reader.clone())).await.status(), 200);
        let tracker = format!("Bearer {}", token(Principal::new("t", Role::Tracker)));
        let refused = call(&app, "/readers", Some(tracker)).await;
        assert_eq!(refused.status(), 403);
        assert!(refused.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("insufficient_scope"));
        // A route nobody wrote a rule for is for admins only.
        assert_eq!(call(&app, "/forgotten", Some(reader)).await.status(), 403);
        let admin = format!("bearer {}", token(Principal::new("a", Role::Admin)));
        assert_eq!(call(&app, "/forgotten", Some(admin)).await.status(), 200);
    }

    #[tokio::test]
    async fn no_token_or_a_malformed_header_is_a_401_with_a_challenge() {
        let app = app(tokens());
        let missing = call(&app, "/readers", None).await;
        assert_eq!(missing.status(), 401);
        assert_eq!(missing.headers()[header::WWW_AUTHENTICATE], REALM);
        let basic = call(&app, "/readers", Some("Basic dXNlcjpwYXNz".into())).await;
        assert_eq!(basic.status(), 401);
        assert!(basic.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_request""#));
        let empty = call(&app, "/readers", Some("Bearer ".into())).await;
        assert_eq!(empty.status(), 401);
    }

    #[tokio::test]
    async fn legacy_routes_act_as_the_configured_principal_without_a_token() {
        let app = app(tokens().with_legacy_principal(Principal::new("legacy-bff", Role::Admin)));
        assert_eq!(call(&app, "/legacy", None).await.status(), 200);
        // Only the legacy routes.
        assert_eq!(call(&app, "/readers", None).await.status(), 401);
        let closed = app_without_legacy();
        assert_eq!(call(&closed, "/legacy", None).await.status(), 401);
    }

    fn app_without_legacy() -> Router {
        app(tokens())
    }

    #[tokio::test]
    async fn with_authentication_off_everyone_is_the_insecure_admin() {
        let app = app(Authentication::insecure_off());
        let response = call(&app, "/readers", None).await;
        assert_eq!(response.status(), 200);
        // Whatever the request carries.
        let basic = call(&app, "/readers", Some("Basic dXNlcjpwYXNz".into())).await;
        assert_eq!(basic.status(), 200);
    }

    #[tokio::test]
    async fn head_is_admitted_as_get() {
        let app = app(tokens());
        let tracker = format!("Bearer {}", token(Principal::new("t", Role::Tracker)));
        let request = Request::builder()
            .method(Method::HEAD)
            .uri("/readers")
            .header(header::AUTHORIZATION, tracker)
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.clone().oneshot(request).await.unwrap().status(), 403);
    }
}
