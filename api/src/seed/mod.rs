//! The seed system's front door: the routes its clients call (`POST /crear-campaign`,
//! `GET /eliminar-campaign/{id}`, ...), with their bodies unchanged, and
//! `GET /commands/{id}`, which tells them what became of each command.
//!
//! The seed's BFF published each request as a command on a Pulsar topic and never told
//! the client the outcome. Here a request is checked for shape at once (the native
//! API's 400 and 422 problems), then durably accepted (`202` with the command's id):
//! published to its topic with the broker's receipt, or, without a broker, stored in the
//! embedded command queue. The domain's rules are checked when the command runs, by the
//! same executors as the native endpoints ([`SeedCommands`]), so a failed command's
//! outcome carries the problem the native endpoint would have answered.
//!
//! - `bodies`: the seed's request bodies and the v1 command each becomes.
//! - `routes`: the seed's routes (and `Prefer: wait`).
//! - `desk`: [`CommandDesk`], where an accepted command goes (the embedded queue or the
//!   broker), durably.
//! - `outcomes`: the answers: the receipt, `GET /commands/{id}`, `GET /command-consumers`.
//! - [`runner`]: [`SeedCommands`], which runs the commands (campaigns and partners;
//!   conversions through the tracking service's runner).

mod bodies;
mod desk;
pub(crate) mod outcomes;
pub(crate) mod routes;
pub mod runner;

pub use bodies::{SeedCampaign, SeedConversion, SeedParticipant, SeedPartner, FECHA_RANGE};
pub use desk::CommandDesk;
pub use outcomes::{CommandConsumerFigures, CommandConsumersResponse, CommandReceipt, CommandStatusResponse};
pub use runner::SeedCommands;

use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;
use outcomes::{command_consumers, command_status};
use routes::*;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/crear-campaign", post(seed_create_campaign))
        .route("/registrar-campaign", post(seed_register_campaign))
        .route("/crear-partner", post(seed_create_partner))
        .route("/registrar-partner", post(seed_register_partner))
        .route("/registrar-evento", post(seed_register_conversion))
        .route(
            "/eliminar-campaign/{id}",
            get(seed_cancel_campaign).delete(seed_delete_campaign),
        )
        .route("/obtener-campaigns", get(seed_list_campaigns))
        .route("/obtener-campaigns/{id}", get(seed_get_campaign))
        .route("/commands/{id}", get(command_status))
        .route("/command-consumers", get(command_consumers))
}
