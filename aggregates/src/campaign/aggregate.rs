//! The Campaign aggregate: state rebuilt from events, and the rules that decide what a command
//! may change.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::partner_kind::PartnerKind;
use crate::text::trimmed_within;

use super::commands::{CampaignCommand, MoneyInput, ParticipantInput};
use super::errors::{CampaignError, ParticipantError};
use super::events::{CampaignEvent, Participant, Schedule};

/// Most participants one campaign can have; bounds the aggregate's size and the work per command.
pub const MAX_PARTICIPANTS: usize = 1000;

const NAME_MAX_CHARS: usize = 100;
const BRAND_ID_MAX_CHARS: usize = 64;
const PARTNER_ID_MAX_CHARS: usize = 64;
const PARTICIPANT_NAME_MAX_CHARS: usize = 100;
const PROFILE_MAX_CHARS: usize = 1000;
const REASON_MAX_CHARS: usize = 500;

/// Where a campaign is in its life cycle (see the [module documentation](super)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    /// Being prepared; not visible to partners yet.
    Draft,
    /// Running.
    Active,
    /// Temporarily stopped; can be resumed.
    Paused,
    /// Ended successfully; final.
    Completed,
    /// Abandoned; final.
    Cancelled,
}

impl CampaignStatus {
    /// The lowercase name, identical to the serialized form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the exact lowercase name (as used in query strings); anything else is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "draft" => Some(Self::Draft),
            "active" => Some(Self::Active),
            "paused" => Some(Self::Paused),
            "completed" => Some(Self::Completed),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }

    /// Whether the campaign is over for good and accepts no more commands.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled)
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A brand's campaign, as rebuilt from its events.
///
/// The default value is a campaign that does not exist yet ([`Campaign::status`] is `None`);
/// only `CreateCampaign` is accepted then.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    status: Option<CampaignStatus>,
    name: String,
    brand_id: String,
    budget: Option<Money>,
    schedule: Option<Schedule>,
    participants: Vec<Participant>,
}

impl Campaign {
    /// The life-cycle status, or `None` while the campaign has not been created.
    pub fn status(&self) -> Option<CampaignStatus> {
        self.status
    }

    /// The campaign's name (empty before creation).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Id of the brand running the campaign (empty before creation).
    pub fn brand_id(&self) -> &str {
        &self.brand_id
    }

    /// The current budget (`None` only before creation).
    pub fn budget(&self) -> Option<&Money> {
        self.budget.as_ref()
    }

    /// When the campaign runs, if scheduled.
    pub fn schedule(&self) -> Option<&Schedule> {
        self.schedule.as_ref()
    }

    /// The participants, in the order they joined.
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }

    /// Checks `command` against every rule and returns the events it produces, without changing
    /// anything: either all of them are written or, on the first broken rule, none.
    fn decide(&self, command: CampaignCommand) -> Result<Vec<CampaignEvent>, CampaignError> {
        use CampaignStatus::{Active, Draft, Paused};
        let event = match command {
            CampaignCommand::CreateCampaign {
                name,
                brand_id,
                budget,
                starts_at,
                ends_at,
                participants,
            } => return self.create(&name, &brand_id, &budget, starts_at, ends_at, &participants),
            CampaignCommand::AddParticipant { participant } => self.add_participant(&participant)?,
            CampaignCommand::RemoveParticipant { partner_id } => self.remove_participant(&partner_id)?,
            CampaignCommand::ChangeBudget { budget } => {
                self.open_status()?;
                CampaignEvent::BudgetChanged {
                    budget: parse_budget(&budget)?,
                }
            }
            CampaignCommand::Reschedule { starts_at, ends_at } => {
                self.open_status()?;
                CampaignEvent::CampaignRescheduled {
                    schedule: schedule(starts_at, ends_at)?,
                }
            }
            CampaignCommand::Activate => {
                self.transition(&[Draft], "activate")?;
                if self.participants.is_empty() {
                    return Err(CampaignError::NoParticipants);
                }
                CampaignEvent::CampaignActivated
            }
            CampaignCommand::Pause => {
                self.transition(&[Active], "pause")?;
                CampaignEvent::CampaignPaused
            }
            CampaignCommand::Resume => {
                self.transition(&[Paused], "resume")?;
                CampaignEvent::CampaignResumed
            }
            CampaignCommand::Complete => {
                self.transition(&[Active, Paused], "complete")?;
                CampaignEvent::CampaignCompleted
            }
            CampaignCommand::Cancel { reason } => {
                self.transition(&[Draft, Active, Paused], "cancel")?;
                let reason =
                    trimmed_within(&reason, 1, REASON_MAX_CHARS).ok_or(CampaignError::InvalidReason)?;
                CampaignEvent::CampaignCancelled {
                    reason: reason.to_owned(),
                }
            }
        };
        Ok(vec![event])
    }

    fn create(
        &self,
        name: &str,
        brand_id: &str,
        budget: &MoneyInput,
        starts_at: Option<DateTime<Utc>>,
        ends_at: Option<DateTime<Utc>>,
        participants: &[ParticipantInput],
    ) -> Result<Vec<CampaignEvent>, CampaignError> {
        if self.status.is_some() {
            return Err(CampaignError::AlreadyExists);
        }
        let name = trimmed_within(name, 1, NAME_MAX_CHARS).ok_or(CampaignError::InvalidName)?;
        let brand_id =
            trimmed_within(brand_id, 1, BRAND_ID_MAX_CHARS).ok_or(CampaignError::InvalidBrandId)?;
        let budget = parse_budget(budget)?;
        let schedule = match (starts_at, ends_at) {
            (Some(starts_at), Some(ends_at)) => Some(schedule(starts_at, ends_at)?),
            (None, None) => None,
            (Some(_), None) => return Err(CampaignError::IncompleteSchedule { missing: "ends_at" }),
            (None, Some(_)) => return Err(CampaignError::IncompleteSchedule { missing: "starts_at" }),
        };
        if participants.len() > MAX_PARTICIPANTS {
            return Err(CampaignError::TooManyParticipants {
                index: Some(MAX_PARTICIPANTS),
                max: MAX_PARTICIPANTS,
            });
        }

        let mut events = Vec::with_capacity(participants.len() + 1);
        events.push(CampaignEvent::CampaignCreated {
            name: name.to_owned(),
            brand_id: brand_id.to_owned(),
            budget,
            schedule,
        });
        let mut seen = HashSet::with_capacity(participants.len());
        for (index, input) in participants.iter().enumerate() {
            let participant = participant(input).map_err(|reason| CampaignError::InvalidParticipant {
                index: Some(index),
                reason,
            })?;
            if !seen.insert(participant.partner_id.clone()) {
                return Err(CampaignError::DuplicateParticipant {
                    index: Some(index),
                    partner_id: participant.partner_id,
                });
            }
            events.push(CampaignEvent::ParticipantAdded(participant));
        }
        Ok(events)
    }

    fn add_participant(&self, input: &ParticipantInput) -> Result<CampaignEvent, CampaignError> {
        self.open_status()?;
        let participant =
            participant(input).map_err(|reason| CampaignError::InvalidParticipant { index: None, reason })?;
        if self.participates(&participant.partner_id) {
            return Err(CampaignError::DuplicateParticipant {
                index: None,
                partner_id: participant.partner_id,
            });
        }
        if self.participants.len() >= MAX_PARTICIPANTS {
            return Err(CampaignError::TooManyParticipants {
                index: None,
                max: MAX_PARTICIPANTS,
            });
        }
        Ok(CampaignEvent::ParticipantAdded(participant))
    }

    fn remove_participant(&self, partner_id: &str) -> Result<CampaignEvent, CampaignError> {
        let status = self.open_status()?;
        let partner_id = partner_id.trim();
        if !self.participates(partner_id) {
            return Err(CampaignError::ParticipantNotFound {
                partner_id: partner_id.to_owned(),
            });
        }
        let live = matches!(status, CampaignStatus::Active | CampaignStatus::Paused);
        if live && self.participants.len() == 1 {
            return Err(CampaignError::LastParticipant { status });
        }
        Ok(CampaignEvent::ParticipantRemoved {
            partner_id: partner_id.to_owned(),
        })
    }

    fn participates(&self, partner_id: &str) -> bool {
        self.participants
            .iter()
            .any(|participant| participant.partner_id == partner_id)
    }

    /// The status of a campaign that exists and is not closed; every command but create
    /// starts here.
    fn open_status(&self) -> Result<CampaignStatus, CampaignError> {
        match self.status {
            None => Err(CampaignError::NotFound),
            Some(status) if status.is_terminal() => Err(CampaignError::Closed { status }),
            Some(status) => Ok(status),
        }
    }

    /// Checks that the life-cycle step `action` may start from the current status.
    fn transition(&self, allowed_from: &[CampaignStatus], action: &'static str) -> Result<(), CampaignError> {
        let from = self.open_status()?;
        if allowed_from.contains(&from) {
            Ok(())
        } else {
            Err(CampaignError::InvalidTransition { from, action })
        }
    }
}

fn parse_budget(input: &MoneyInput) -> Result<Money, CampaignError> {
    Money::parse(&input.amount, &input.currency).map_err(CampaignError::InvalidBudget)
}

fn schedule(starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<Schedule, CampaignError> {
    for (field, date) in [("starts_at", starts_at), ("ends_at", ends_at)] {
        if !(1..=9999).contains(&date.year()) {
            return Err(CampaignError::ScheduleOutOfRange { field });
        }
    }
    if starts_at < ends_at {
        Ok(Schedule { starts_at, ends_at })
    } else {
        Err(CampaignError::InvalidSchedule)
    }
}

/// Validates one participant's data; text is stored trimmed.
fn participant(input: &ParticipantInput) -> Result<Participant, ParticipantError> {
    let partner_id = trimmed_within(&input.partner_id, 1, PARTNER_ID_MAX_CHARS)
        .ok_or(ParticipantError::InvalidPartnerId)?;
    let kind = PartnerKind::parse(&input.kind).ok_or_else(|| ParticipantError::InvalidKind {
        value: input.kind.clone(),
    })?;
    let name =
        trimmed_within(&input.name, 1, PARTICIPANT_NAME_MAX_CHARS).ok_or(ParticipantError::InvalidName)?;
    let profile =
        trimmed_within(&input.profile, 0, PROFILE_MAX_CHARS).ok_or(ParticipantError::InvalidProfile)?;
    Ok(Participant {
        partner_id: partner_id.to_owned(),
        kind,
        name: name.to_owned(),
        profile: profile.to_owned(),
    })
}

impl Aggregate for Campaign {
    const TYPE: &'static str = "Campaign";
    type Command = CampaignCommand;
    type Event = CampaignEvent;
    type Error = CampaignError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            CampaignEvent::CampaignCreated {
                name,
                brand_id,
                budget,
                schedule,
            } => {
                self.status = Some(CampaignStatus::Draft);
                self.name = name;
                self.brand_id = brand_id;
                self.budget = Some(budget);
                self.schedule = schedule;
            }
            CampaignEvent::ParticipantAdded(participant) => self.participants.push(participant),
            CampaignEvent::ParticipantRemoved { partner_id } => self
                .participants
                .retain(|participant| participant.partner_id != partner_id),
            CampaignEvent::BudgetChanged { budget } => self.budget = Some(budget),
            CampaignEvent::CampaignRescheduled { schedule } => self.schedule = Some(schedule),
            CampaignEvent::CampaignActivated | CampaignEvent::CampaignResumed => {
                self.status = Some(CampaignStatus::Active)
            }
            CampaignEvent::CampaignPaused => self.status = Some(CampaignStatus::Paused),
            CampaignEvent::CampaignCompleted => self.status = Some(CampaignStatus::Completed),
            CampaignEvent::CampaignCancelled { .. } => self.status = Some(CampaignStatus::Cancelled),
        }
    }
}
