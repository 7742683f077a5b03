//! [`SeedCommands`]: runs the seed front door's campaign and partner commands through
//! the same executors, rules and errors as the native endpoints, so a command's outcome
//! is what the native endpoint would have answered.

use crate::access::{self, Visible};
use crate::commands::{refusal, CommandAccepted};
use crate::error::ApiError;
use crate::extract::Addressable;
use aggregates::campaign::{Campaign, CampaignCommand, ParticipantInput};
use aggregates::partner::{Partner, PartnerCommand};
use aggregates::DomainError;
use async_trait::async_trait;
use auth::{AuthError, Principal, Role};
use axum::http::Method;
use contract::v1::commands::{types, Command, CommandDecodeError};
use cqrs_es::Aggregate;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use store::{
    CommandExecutor, CommandOptions, CommandOutcome, CommandToRun, IdempotencyClaim, Outcome, RunCommand,
    RunResult, CORRELATION_ID,
};

/// Runs the seed commands of `alpes serve`: campaigns and partners here, conversions by
/// the tracking service's runner when it runs in this process.
#[derive(Clone)]
pub struct SeedCommands {
    campaigns: Arc<CommandExecutor<Campaign>>,
    partners: Arc<CommandExecutor<Partner>>,
    conversions: Option<Arc<dyn RunCommand>>,
}

impl SeedCommands {
    pub fn new(
        campaigns: Arc<CommandExecutor<Campaign>>,
        partners: Arc<CommandExecutor<Partner>>,
        conversions: Option<Arc<dyn RunCommand>>,
    ) -> Self {
        SeedCommands {
            campaigns,
            partners,
            conversions,
        }
    }
}

/// Executes one command under an idempotency key made of the command's id (and `part`,
/// for the second command of a partner that joins a campaign), with the command's id as
/// the correlation id of its events.
struct Run<'a> {
    command: &'a CommandToRun,
    /// Who issued it: the command runs with their rights, and its events name them.
    principal: Principal,
}

impl Run<'_> {
    fn options(&self, part: &str, new_aggregate: bool) -> CommandOptions {
        let id = self.command.command_id;
        let mut hasher = Sha256::new();
        hasher.update(self.command.command_type.as_bytes());
        hasher.update([0]);
        hasher.update(self.command.payload.to_string().as_bytes());
        CommandOptions {
            expected_version: None,
            idempotency: Some(IdempotencyClaim {
                key: format!("command:{id}{part}"),
                request_hash: hasher.finalize().to_vec(),
            }),
            metadata: self
                .principal
                .audit_metadata()
                .into_iter()
                .chain([(CORRELATION_ID.to_owned(), id.to_string())])
                .collect(),
            new_aggregate,
        }
    }
}

/// What became of one native command, as an outcome's parts.
enum Ran {
    Answer(Value),
    Refused(Value),
    Unavailable(String),
}

fn ran(result: Result<CommandOutcome, ApiError>) -> Ran {
    match result {
        Ok(outcome) => Ran::Answer(answer(&outcome)),
        Err(error) => match error {
            ApiError::Unavailable { detail } => Ran::Unavailable(detail),
            // Concurrent writers kept winning: a client would retry, so the queue does.
            ApiError::Conflict => Ran::Unavailable("the aggregate kept being modified concurrently".into()),
            error => Ran::Refused(problem(error)),
        },
    }
}

/// The native command answer (`CommandAccepted`), as JSON.
fn answer(outcome: &CommandOutcome) -> Value {
    serde_json::to_value(CommandAccepted {
        aggregate_id: outcome.aggregate_id.clone(),
        version: outcome.version,
        event_ids: outcome.event_ids.clone(),
        position: outcome.position,
    })
    .unwrap_or_default()
}

fn problem(error: ApiError) -> Value {
    serde_json::to_value(error.problem()).unwrap_or_default()
}

/// Runs `command` as `run`'s issuer: an aggregate it may not see is refused as one that
/// does not exist, as the native endpoints refuse it.
async fn execute<A>(
    executor: &CommandExecutor<A>,
    id: &str,
    command: A::Command,
    run: &Run<'_>,
    options: CommandOptions,
) -> Ran
where
    A: Addressable + Visible + Aggregate + Clone + 'static,
    A::Command: Clone + aggregates::CommandName,
    A::Error: DomainError,
{
    ran(
        crate::commands::execute_as(executor, id, command, options, &run.principal)
            .await
            .map_err(refusal::<A>),
    )
}

/// Who issued a command, as its record says. A command that names nobody was put on
/// its topic by an operator's tool (or accepted before commands named their issuer):
/// it runs as [`UNATTRIBUTED`], an admin.
fn issuer(command: &CommandToRun) -> Result<Principal, ApiError> {
    match &command.issued_by {
        None => Ok(Principal::new(UNATTRIBUTED, Role::Admin)),
        Some(issuer) => serde_json::from_value(issuer.clone()).map_err(|error| {
            ApiError::bad_request(
                "command.invalid_issuer",
                format!("the command's issuer cannot be read: {error}"),
                None,
            )
        }),
    }
}

/// The subject of a command that names no issuer.
pub const UNATTRIBUTED: &str = "unattributed";

fn done(ran: Ran) -> RunResult {
    match ran {
        Ran::Answer(answer) => RunResult::Done(Outcome::Succeeded(answer)),
        Ran::Refused(problem) => RunResult::Done(Outcome::Failed(problem)),
        Ran::Unavailable(cause) => RunResult::Retry(cause),
    }
}

#[async_trait]
impl RunCommand for SeedCommands {
    async fn run(&self, to_run: &CommandToRun) -> RunResult {
        let command = match Command::from_data(&to_run.command_type, to_run.payload.clone()) {
            Ok(command) => command,
            Err(error) => {
                let code = match error {
                    CommandDecodeError::UnknownType(_) => "command.unknown_type",
                    _ => "command.invalid_data",
                };
                return done(Ran::Refused(problem(ApiError::bad_request(
                    code,
                    error.to_string(),
                    None,
                ))));
            }
        };
        let principal = match issuer(to_run) {
            Ok(principal) => principal,
            Err(refused) => return done(Ran::Refused(problem(refused))),
        };
        // Checked again here: a command may come from its topic, not only from the routes.
        if let Err(refused) = may_issue(&command, &principal) {
            return done(Ran::Refused(problem(refused.into())));
        }
        let run = Run {
            command: to_run,
            principal,
        };
        match command {
            Command::RegisterCampaign(campaign) => {
                let command = CampaignCommand::CreateCampaign {
                    name: campaign.name,
                    brand_id: campaign.brand_id,
                    budget: aggregates::campaign::MoneyInput {
                        amount: campaign.budget.amount,
                        currency: campaign.budget.currency,
                    },
                    starts_at: None,
                    ends_at: None,
                    participants: campaign
                        .participants
                        .into_iter()
                        .map(|participant| ParticipantInput {
                            partner_id: participant.partner_id,
                            kind: participant.kind,
                            name: participant.name,
                            profile: participant.profile,
                        })
                        .collect(),
                };
                done(
                    execute(
                        &self.campaigns,
                        &campaign.campaign_id,
                        command,
                        &run,
                        run.options("", true),
                    )
                    .await,
                )
            }
            Command::CancelCampaign(cancel) => {
                let command = CampaignCommand::Cancel {
                    reason: cancel.reason,
                };
                done(
                    execute(
                        &self.campaigns,
                        &cancel.campaign_id,
                        command,
                        &run,
                        run.options("", false),
                    )
                    .await,
                )
            }
            Command::RegisterPartner(partner) => {
                let register = PartnerCommand::RegisterPartner {
                    name: partner.name.clone(),
                    kind: partner.kind.clone(),
                    profile: partner.profile.clone(),
                    email: None,
                };
                let registered = execute(
                    &self.partners,
                    &partner.partner_id,
                    register,
                    &run,
                    run.options("", true),
                )
                .await;
                let (registered, campaign_id) = match (registered, partner.join_campaign_id) {
                    (Ran::Answer(registered), Some(campaign_id)) => (registered, campaign_id),
                    (registered, _) => return done(registered),
                };
                let join = CampaignCommand::AddParticipant {
                    participant: ParticipantInput {
                        partner_id: partner.partner_id,
                        kind: partner.kind,
                        name: partner.name,
                        profile: partner.profile,
                    },
                };
                // One outcome names both results: the partner's answer, with the
                // campaign's under `participation` (or the problem that refused it).
                match execute(
                    &self.campaigns,
                    &campaign_id,
                    join,
                    &run,
                    run.options(":join", false),
                )
                .await
                {
                    Ran::Answer(joined) => done(Ran::Answer(with(registered, "participation", joined))),
                    Ran::Refused(problem) => done(Ran::Refused(with(problem, "partner", registered))),
                    Ran::Unavailable(cause) => RunResult::Retry(cause),
                }
            }
            Command::RegisterConversion(_) => match &self.conversions {
                Some(conversions) => conversions.run(to_run).await,
                None => done(Ran::Refused(problem(ApiError::Unavailable {
                    detail: format!(
                        "no tracking service runs in this process to execute {}",
                        types::REGISTER_CONVERSION
                    ),
                }))),
            },
        }
    }
}

/// Whether `principal` may issue `command`: the roles of the seed route that accepts
/// it (one table, `access::RULES`), and for a brand, a campaign of its own brand.
fn may_issue(command: &Command, principal: &Principal) -> Result<(), AuthError> {
    let (method, route) = match command {
        Command::RegisterCampaign(_) => (Method::POST, "/crear-campaign"),
        Command::CancelCampaign(_) => (Method::DELETE, "/eliminar-campaign/{id}"),
        Command::RegisterPartner(_) => (Method::POST, "/crear-partner"),
        Command::RegisterConversion(_) => (Method::POST, "/registrar-evento"),
    };
    if !access::allows(&method, route, principal.role) {
        return Err(AuthError::RoleNotAllowed(principal.role));
    }
    match command {
        Command::RegisterCampaign(campaign) => access::may_create_for_brand(principal, &campaign.brand_id),
        _ => Ok(()),
    }
}

/// `object` with `value` under `name`.
fn with(mut object: Value, name: &str, value: Value) -> Value {
    if let Some(fields) = object.as_object_mut() {
        fields.insert(name.to_owned(), value);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_outcome_names_both_results() {
        let joined = with(
            json!({"aggregate_id": "p"}),
            "participation",
            json!({"aggregate_id": "c"}),
        );
        assert_eq!(joined["participation"]["aggregate_id"], "c");
    }
}
