//! [`ConversionCommands`]: runs the seed front door's conversion commands
//! (`alpes.command.register-conversion.v1`, topic `comando-registrar-evento-conversion`)
//! as `POST /tracking/conversions` would, with the same rules and the same problems.

use async_trait::async_trait;
use auth::{AuthError, Principal, Rule};
use axum::http::Method;
use contract::v1::commands::{types, Command, CommandDecodeError};
use std::sync::Arc;
use store::{CommandToRun, Outcome, RunCommand, RunResult};

use crate::http::problem::TrackingError;
use crate::http::records::record_commanded_conversion;
use crate::storage::TrackingStore;

/// Runs conversion commands against the tracking service's view and records.
#[derive(Clone)]
pub struct ConversionCommands {
    store: Arc<dyn TrackingStore>,
}

impl ConversionCommands {
    pub(crate) fn new(store: Arc<dyn TrackingStore>) -> Self {
        ConversionCommands { store }
    }
}

#[async_trait]
impl RunCommand for ConversionCommands {
    async fn run(&self, command: &CommandToRun) -> RunResult {
        let conversion = match Command::from_data(&command.command_type, command.payload.clone()) {
            Ok(Command::RegisterConversion(conversion)) => conversion,
            Ok(_) | Err(CommandDecodeError::UnknownType(_)) => {
                return failed(TrackingError::refused(
                    "command.unknown_type",
                    format!(
                        "the tracking service runs {} commands, not {}",
                        types::REGISTER_CONVERSION,
                        command.command_type
                    ),
                    None,
                ))
            }
            Err(error) => {
                return failed(TrackingError::refused(
                    "command.invalid_data",
                    error.to_string(),
                    None,
                ))
            }
        };
        if let Err(refused) = may_record(command) {
            let problem = serde_json::to_value(refused.problem()).unwrap_or_default();
            return RunResult::Done(Outcome::Failed(problem));
        }
        let recorded = record_commanded_conversion(
            &*self.store,
            command.command_id,
            conversion.campaign_id,
            conversion.partner_id,
            conversion.occurred_at,
        )
        .await;
        match recorded {
            Ok(conversion) => RunResult::Done(Outcome::Succeeded(serde_json::json!({
                "conversion_id": conversion.id,
                "campaign_id": conversion.campaign_id,
                "partner_id": conversion.partner_id,
                "occurred_at": conversion.occurred_at,
            }))),
            Err(TrackingError::Unavailable) => {
                RunResult::Retry("the tracking database is unavailable".into())
            }
            Err(error) => failed(error),
        }
    }
}

/// Whether the command's issuer may record a conversion, as `POST /tracking/conversions`
/// says ([`crate::http::RULES`]). A command that names no issuer was put on its topic by
/// an operator's tool: it may.
fn may_record(command: &CommandToRun) -> Result<(), AuthError> {
    let Some(issuer) = &command.issued_by else {
        return Ok(());
    };
    let principal: Principal = serde_json::from_value(issuer.clone())
        .map_err(|_| AuthError::Forbidden("the command's issuer cannot be read".into()))?;
    let allowed = Rule::allows(
        crate::http::RULES,
        &Method::POST,
        "/tracking/conversions",
        principal.role,
    );
    match allowed {
        true => Ok(()),
        false => Err(AuthError::RoleNotAllowed(principal.role)),
    }
}

fn failed(error: TrackingError) -> RunResult {
    let problem = serde_json::to_value(error.problem()).unwrap_or_default();
    RunResult::Done(Outcome::Failed(problem))
}
