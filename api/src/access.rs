//! Who may call what, and what each caller may see.
//!
//! [`RULES`]: the roles that may call each route, applied by the guard before a handler
//! runs (no or a bad token: 401; a role not listed: 403). `/openapi.json` publishes the
//! same table as each operation's security. Within a route, what a role may see is
//! narrower, and answered as if the rest did not exist (404; lists filtered):
//!
//! | role | sees |
//! |---|---|
//! | admin, reader | everything |
//! | brand | the campaigns of its `brand_id`; all partners |
//! | partner | its own partner record; the campaigns that list it as participant |
//! | tracker | the outcomes of its own seed commands; it records clicks and conversions |

use aggregates::campaign::Campaign;
use aggregates::partner::Partner;
use auth::{Access, Principal, Role, Rule};
use axum::http::Method;

const ADMIN: &[Role] = &[Role::Admin];
/// Campaign commands: a brand on its own campaigns.
const CAMPAIGN_WRITERS: &[Role] = &[Role::Admin, Role::Brand];
/// Campaign and partner views: each role sees its share.
const VIEWERS: &[Role] = &[Role::Admin, Role::Reader, Role::Brand, Role::Partner];
/// A campaign's event stream (the audit trail): its brand, not its partners.
const CAMPAIGN_AUDITORS: &[Role] = &[Role::Admin, Role::Reader, Role::Brand];
/// A partner's event stream: the partner itself.
const PARTNER_AUDITORS: &[Role] = &[Role::Admin, Role::Reader, Role::Partner];
/// A partner's profile: the partner itself.
const PROFILE_EDITORS: &[Role] = &[Role::Admin, Role::Partner];
/// The operators' status pages.
const OPERATORS: &[Role] = &[Role::Admin, Role::Reader];
const TRACKERS: &[Role] = &[Role::Admin, Role::Tracker];
/// A seed command's outcome: whoever submitted it (and admins, readers).
const ANY_ROLE: &[Role] = &Role::ALL;

const fn rule(method: Method, path: &'static str, roles: &'static [Role]) -> Rule {
    Rule::new(method, path, Access::Roles(roles))
}

/// A route of the seed system's front door: open to legacy clients with `ALPES_BFF_OPEN`.
const fn seed(method: Method, path: &'static str, roles: &'static [Role]) -> Rule {
    Rule::new(method, path, Access::Legacy(roles))
}

/// The access rule of every route of the API (a route left out is for admins only).
pub static RULES: &[Rule] = &[
    Rule::new(Method::GET, "/health", Access::Open),
    Rule::new(Method::GET, "/ready", Access::Open),
    Rule::new(Method::GET, "/openapi.json", Access::Open),
    // Campaigns.
    rule(Method::POST, "/campaigns", CAMPAIGN_WRITERS),
    rule(Method::GET, "/campaigns", VIEWERS),
    rule(Method::GET, "/campaigns/{id}", VIEWERS),
    rule(Method::GET, "/campaigns/{id}/events", CAMPAIGN_AUDITORS),
    rule(Method::POST, "/campaigns/{id}/participants", CAMPAIGN_WRITERS),
    rule(
        Method::DELETE,
        "/campaigns/{id}/participants/{partner_id}",
        CAMPAIGN_WRITERS,
    ),
    rule(Method::PUT, "/campaigns/{id}/budget", CAMPAIGN_WRITERS),
    rule(Method::PUT, "/campaigns/{id}/schedule", CAMPAIGN_WRITERS),
    rule(Method::POST, "/campaigns/{id}/activate", CAMPAIGN_WRITERS),
    rule(Method::POST, "/campaigns/{id}/pause", CAMPAIGN_WRITERS),
    rule(Method::POST, "/campaigns/{id}/resume", CAMPAIGN_WRITERS),
    rule(Method::POST, "/campaigns/{id}/complete", CAMPAIGN_WRITERS),
    rule(Method::POST, "/campaigns/{id}/cancel", CAMPAIGN_WRITERS),
    // Partners.
    rule(Method::POST, "/partners", ADMIN),
    rule(Method::GET, "/partners", VIEWERS),
    rule(Method::GET, "/partners/{id}", VIEWERS),
    rule(Method::GET, "/partners/{id}/events", PARTNER_AUDITORS),
    rule(Method::PUT, "/partners/{id}/profile", PROFILE_EDITORS),
    rule(Method::POST, "/partners/{id}/suspend", ADMIN),
    rule(Method::POST, "/partners/{id}/reinstate", ADMIN),
    rule(Method::POST, "/partners/{id}/deactivate", ADMIN),
    // Operations.
    rule(Method::GET, "/projections", OPERATORS),
    rule(Method::GET, "/relay", OPERATORS),
    rule(Method::GET, "/command-consumers", OPERATORS),
    rule(Method::GET, "/metrics", OPERATORS),
    rule(Method::POST, "/admin/projections/{name}/rebuild", ADMIN),
    rule(Method::POST, "/admin/projections/{name}/retry", ADMIN),
    rule(Method::POST, "/admin/projections/{name}/skip", ADMIN),
    // The seed's front door. Its cancellation is a GET, but a command: not for readers.
    seed(Method::POST, "/crear-campaign", CAMPAIGN_WRITERS),
    seed(Method::POST, "/registrar-campaign", CAMPAIGN_WRITERS),
    seed(Method::POST, "/crear-partner", ADMIN),
    seed(Method::POST, "/registrar-partner", ADMIN),
    seed(Method::POST, "/registrar-evento", TRACKERS),
    seed(Method::GET, "/eliminar-campaign/{id}", CAMPAIGN_WRITERS),
    seed(Method::DELETE, "/eliminar-campaign/{id}", CAMPAIGN_WRITERS),
    seed(Method::GET, "/obtener-campaigns", VIEWERS),
    seed(Method::GET, "/obtener-campaigns/{id}", VIEWERS),
    seed(Method::GET, "/commands/{id}", ANY_ROLE),
];

/// Whether [`RULES`] let `role` call `method` on `route` (a route's template).
pub fn allows(method: &Method, route: &str, role: Role) -> bool {
    Rule::allows(RULES, method, route, role)
}

/// Whether `principal` may see the campaign of `brand_id` listing `participants`.
pub fn sees_campaign<'a>(
    principal: &Principal,
    brand_id: &str,
    mut participants: impl Iterator<Item = &'a str>,
) -> bool {
    match principal.role {
        Role::Admin | Role::Reader => true,
        Role::Brand => principal.is_brand(brand_id),
        Role::Partner => participants.any(|partner_id| principal.is_partner(partner_id)),
        Role::Tracker => false,
    }
}

/// Whether `principal` may see the partner `partner_id`.
pub fn sees_partner(principal: &Principal, partner_id: &str) -> bool {
    match principal.role {
        Role::Admin | Role::Reader | Role::Brand => true,
        Role::Partner => principal.is_partner(partner_id),
        Role::Tracker => false,
    }
}

/// An aggregate whose commands check who may see it, on the aggregate as loaded.
pub trait Visible {
    /// Whether `principal` may see this aggregate, whose id is `id`.
    fn visible_to(&self, id: &str, principal: &Principal) -> bool;
}

impl Visible for Campaign {
    fn visible_to(&self, _id: &str, principal: &Principal) -> bool {
        sees_campaign(
            principal,
            self.brand_id(),
            self.participants().iter().map(|p| p.partner_id.as_str()),
        )
    }
}

impl Visible for Partner {
    fn visible_to(&self, id: &str, principal: &Principal) -> bool {
        sees_partner(principal, id)
    }
}

/// A brand creates campaigns for its own brand only: 403 for another `brand_id`.
pub fn may_create_for_brand(principal: &Principal, brand_id: &str) -> Result<(), auth::AuthError> {
    match principal.role {
        // Compared as the domain stores it: trimmed.
        Role::Brand if !principal.is_brand(brand_id.trim()) => Err(auth::AuthError::Forbidden(
            "a brand token creates campaigns for its own brand_id only".into(),
        )),
        _ => Ok(()),
    }
}
