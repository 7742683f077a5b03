//! [`CommandDesk`]: where the seed routes' commands go (the embedded command queue, or
//! the broker's topics), and how one is accepted durably.

use crate::error::ApiError;
use auth::Principal;
use bus::commands::CommandConsumersHandle;
use bus::PublishCommand;
use contract::v1::commands::{Command, Issuer};
use std::sync::Arc;
use std::time::Duration;
use store::{
    CommandCounters, CommandOptions, CommandQueue, CommandStatus, NewCommand, SubmitError, Submitted,
};
use uuid::Uuid;

/// The longest `Prefer: wait=N` honoured (less if the server's request timeout would
/// cut the wait short: [`CommandDesk::with_request_timeout`]).
pub(super) const MAX_WAIT: Duration = Duration::from_secs(30);

/// Where accepted commands go: the broker's topics, or the embedded command queue.
/// Either way the `commands` table keeps each one and, later, its outcome.
#[derive(Clone)]
pub struct CommandDesk {
    queue: CommandQueue,
    broker: Option<Arc<dyn PublishCommand>>,
    pub(super) consumers: Consumers,
    /// Whether a conversion accepted here will run (a tracking service takes them).
    pub(super) runs_conversions: bool,
    /// The longest wait `Prefer: wait` gets.
    pub(super) max_wait: Duration,
}

/// What runs the commands in this process, for `GET /command-consumers`.
#[derive(Clone)]
pub(super) enum Consumers {
    /// The embedded queue's worker (`store::CommandWorker::counters`).
    Embedded(Arc<CommandCounters>),
    /// The consumers of the command topics (and of the outcomes topic).
    Pulsar(Vec<CommandConsumersHandle>),
}

impl CommandDesk {
    /// Commands run by this database's embedded queue, whose worker counts in `counters`;
    /// conversions only when `runs_conversions` (a tracking service in this process).
    pub fn embedded(queue: CommandQueue, counters: Arc<CommandCounters>, runs_conversions: bool) -> Self {
        CommandDesk {
            queue,
            broker: None,
            consumers: Consumers::Embedded(counters),
            runs_conversions,
            max_wait: MAX_WAIT,
        }
    }

    /// Commands published to a broker, whose consumers (`consumers`, those of this
    /// process) store the outcomes.
    pub fn brokered(
        queue: CommandQueue,
        broker: Arc<dyn PublishCommand>,
        consumers: Vec<CommandConsumersHandle>,
    ) -> Self {
        CommandDesk {
            queue,
            broker: Some(broker),
            consumers: Consumers::Pulsar(consumers),
            // `alpes tracking` consumes them from their topic.
            runs_conversions: true,
            max_wait: MAX_WAIT,
        }
    }

    /// Keeps `Prefer: wait` within the server's request timeout (with a second to
    /// spare to answer): a wait cut short by it would answer 503 for a command that was
    /// accepted.
    pub fn with_request_timeout(mut self, request_timeout: Duration) -> Self {
        self.max_wait = request_timeout
            .saturating_sub(Duration::from_secs(1))
            .min(MAX_WAIT);
        self
    }

    pub fn queue(&self) -> &CommandQueue {
        &self.queue
    }

    /// Accepts `command` durably: stored, and published when there is a broker.
    ///
    /// A command the broker did not confirm answers 503. Without an idempotency key it is
    /// withdrawn (the client was told nothing was accepted). With one it is kept, and the
    /// client's retry publishes it again under the same id, as it does for any retry
    /// that finds its command still pending: the broker may have stored a message whose
    /// receipt was lost, or the process may have died between storing and publishing,
    /// and the consumers take a command they have seen as a duplicate.
    pub(super) async fn submit(
        &self,
        command: Command,
        options: CommandOptions,
        issuer: &Principal,
    ) -> Result<Submitted, ApiError> {
        let payload = command.data();
        if contract::v1::commands::contains_nul(&payload) {
            // Valid JSON, but no database stores it as text; the native endpoints refuse
            // control characters as a rule too.
            return Err(ApiError::Domain(Box::new(NulInText)));
        }
        let command_id = Uuid::now_v7();
        let keyed = options.idempotency.is_some();
        let submitted = self
            .queue
            .submit(NewCommand {
                command_id,
                command_type: command.command_type().to_owned(),
                payload,
                queued: self.broker.is_none(),
                idempotency: options.idempotency,
                issued_by: serde_json::to_value(issuer).ok(),
            })
            .await
            .map_err(|error| match error {
                SubmitError::IdempotencyKeyReused => ApiError::IdempotencyKeyReused,
                SubmitError::Raced => ApiError::StateConflict {
                    code: "command.concurrent_submission",
                    detail:
                        "a request with the same Idempotency-Key was being submitted at the same time; retry"
                            .into(),
                },
                SubmitError::Database(error) => error.into(),
            })?;
        let Some(broker) = &self.broker else {
            return Ok(submitted);
        };
        let record = submitted.record();
        if record.status != CommandStatus::Pending {
            return Ok(submitted);
        }
        // A replayed command is published as first stored (its own ids inside, and
        // who issued it first).
        let message = match &submitted {
            Submitted::Accepted(_) => command.message(record.command_id, record.submitted_at),
            Submitted::Replayed(_) => Command::from_data(&record.command_type, record.payload.clone())
                .map_err(|error| ApiError::Internal(format!("a stored command cannot be read: {error}")))?
                .message(record.command_id, record.submitted_at),
        }
        .issued_by(
            record
                .issued_by
                .clone()
                .and_then(|issuer| serde_json::from_value::<Issuer>(issuer).ok()),
        );
        if let Err(error) = broker.publish(&message).await {
            tracing::warn!(command_id = %record.command_id, %error, "the broker did not take a command");
            if !keyed {
                self.queue.withdraw(record.command_id).await?;
            }
            return Err(ApiError::Unavailable {
                detail: "the message broker did not confirm the command; retry shortly".into(),
            });
        }
        Ok(submitted)
    }
}

/// A seed body with a NUL character in its text.
#[derive(Debug, thiserror::Error)]
#[error("text fields must not contain NUL characters")]
struct NulInText;

impl aggregates::DomainError for NulInText {
    fn code(&self) -> &'static str {
        "request.invalid_text"
    }
    fn category(&self) -> aggregates::error::ErrorCategory {
        aggregates::error::ErrorCategory::Rule
    }
    fn field(&self) -> Option<String> {
        None
    }
}
