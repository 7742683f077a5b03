//! Given/when/then tests of the Campaign aggregate, plus the stored shape of its events and the
//! codes and fields of its errors.

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::json;

use super::*;
use crate::error::{DomainError, ErrorCategory};
use crate::money::{Money, MoneyError};
use crate::partner_kind::PartnerKind;

// ---------------------------------------------------------------------------------------------
// Fixtures

fn given(events: Vec<CampaignEvent>) -> AggregateTestExecutor<Campaign> {
    TestFramework::<Campaign>::with(()).given(events)
}

fn money_input(amount: &str, currency: &str) -> MoneyInput {
    MoneyInput {
        amount: amount.to_owned(),
        currency: currency.to_owned(),
    }
}

fn money(amount: &str, currency: &str) -> Money {
    Money::parse(amount, currency).unwrap()
}

fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 0, 0, 0).unwrap()
}

fn summer() -> Schedule {
    Schedule {
        starts_at: at(2025, 6, 1),
        ends_at: at(2025, 8, 31),
    }
}

/// Valid input for partner `id`, matching [`participant`].
fn participant_input(id: &str) -> ParticipantInput {
    ParticipantInput {
        partner_id: id.to_owned(),
        kind: "influencer".to_owned(),
        name: format!("Partner {id}"),
        profile: "Fashion, 200k followers".to_owned(),
    }
}

/// The participant that [`participant_input`] validates into.
fn participant(id: &str) -> Participant {
    Participant {
        partner_id: id.to_owned(),
        kind: PartnerKind::Influencer,
        name: format!("Partner {id}"),
        profile: "Fashion, 200k followers".to_owned(),
    }
}

/// The fields of `CreateCampaign`, so each test changes only what it is about.
struct NewCampaign {
    name: String,
    brand_id: String,
    budget: MoneyInput,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    participants: Vec<ParticipantInput>,
}

fn new_campaign() -> NewCampaign {
    NewCampaign {
        name: "Summer launch".to_owned(),
        brand_id: "brand-1".to_owned(),
        budget: money_input("10000", "USD"),
        starts_at: None,
        ends_at: None,
        participants: Vec::new(),
    }
}

impl NewCampaign {
    fn command(self) -> CampaignCommand {
        CampaignCommand::CreateCampaign {
            name: self.name,
            brand_id: self.brand_id,
            budget: self.budget,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            participants: self.participants,
        }
    }
}

fn created() -> CampaignEvent {
    CampaignEvent::CampaignCreated {
        name: "Summer launch".to_owned(),
        brand_id: "brand-1".to_owned(),
        budget: money("10000", "USD"),
        schedule: None,
    }
}

fn added(id: &str) -> CampaignEvent {
    CampaignEvent::ParticipantAdded(participant(id))
}

fn draft() -> Vec<CampaignEvent> {
    vec![created(), added("p-1")]
}

fn draft_without_participants() -> Vec<CampaignEvent> {
    vec![created()]
}

fn active() -> Vec<CampaignEvent> {
    vec![created(), added("p-1"), CampaignEvent::CampaignActivated]
}

fn paused() -> Vec<CampaignEvent> {
    let mut events = active();
    events.push(CampaignEvent::CampaignPaused);
    events
}

fn completed() -> Vec<CampaignEvent> {
    let mut events = active();
    events.push(CampaignEvent::CampaignCompleted);
    events
}

fn cancelled() -> Vec<CampaignEvent> {
    let mut events = draft();
    events.push(CampaignEvent::CampaignCancelled {
        reason: "Brand withdrew".to_owned(),
    });
    events
}

/// Every command except `CreateCampaign`, each valid on an open campaign.
fn commands_on_existing_campaign() -> Vec<CampaignCommand> {
    vec![
        CampaignCommand::AddParticipant {
            participant: participant_input("p-2"),
        },
        CampaignCommand::RemoveParticipant {
            partner_id: "p-1".to_owned(),
        },
        CampaignCommand::ChangeBudget {
            budget: money_input("500", "EUR"),
        },
        CampaignCommand::Reschedule {
            starts_at: summer().starts_at,
            ends_at: summer().ends_at,
        },
        CampaignCommand::Activate,
        CampaignCommand::Pause,
        CampaignCommand::Resume,
        CampaignCommand::Complete,
        CampaignCommand::Cancel {
            reason: "Brand withdrew".to_owned(),
        },
    ]
}

fn error_of(events: Vec<CampaignEvent>, command: CampaignCommand) -> CampaignError {
    given(events)
        .when(command)
        .inspect_result()
        .expect_err("the command should have been rejected")
}

// ---------------------------------------------------------------------------------------------
// Existence and closed campaigns

#[test]
fn every_command_but_create_needs_an_existing_campaign() {
    for command in commands_on_existing_campaign() {
        let error = error_of(vec![], command.clone());
        assert_eq!(error, CampaignError::NotFound, "{command:?}");
    }
}

#[test]
fn create_on_an_existing_campaign_is_rejected() {
    given(draft())
        .when(new_campaign().command())
        .then_expect_error(CampaignError::AlreadyExists);
}

#[test]
fn create_on_a_closed_campaign_is_rejected_as_already_existing() {
    given(completed())
        .when(new_campaign().command())
        .then_expect_error(CampaignError::AlreadyExists);
}

#[test]
fn every_command_on_a_completed_campaign_is_rejected() {
    for command in commands_on_existing_campaign() {
        let error = error_of(completed(), command.clone());
        let expected = CampaignError::Closed {
            status: CampaignStatus::Completed,
        };
        assert_eq!(error, expected, "{command:?}");
    }
}

#[test]
fn every_command_on_a_cancelled_campaign_is_rejected() {
    for command in commands_on_existing_campaign() {
        let error = error_of(cancelled(), command.clone());
        let expected = CampaignError::Closed {
            status: CampaignStatus::Cancelled,
        };
        assert_eq!(error, expected, "{command:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// CreateCampaign

#[test]
fn create_emits_created_then_each_participant_in_request_order() {
    let mut second = participant_input("p-2");
    second.kind = "Affiliate".to_owned();
    let command = NewCampaign {
        name: "  Summer launch ".to_owned(),
        brand_id: " brand-1 ".to_owned(),
        budget: money_input("10000", "usd"),
        starts_at: Some(summer().starts_at),
        ends_at: Some(summer().ends_at),
        participants: vec![participant_input("p-1"), second],
    }
    .command();

    let mut expected_second = participant("p-2");
    expected_second.kind = PartnerKind::Affiliate;
    given(vec![]).when(command).then_expect_events(vec![
        CampaignEvent::CampaignCreated {
            name: "Summer launch".to_owned(),
            brand_id: "brand-1".to_owned(),
            budget: money("10000", "USD"),
            schedule: Some(summer()),
        },
        added("p-1"),
        CampaignEvent::ParticipantAdded(expected_second),
    ]);
}

#[test]
fn create_without_participants_or_schedule_emits_only_created() {
    given(vec![])
        .when(new_campaign().command())
        .then_expect_events(vec![created()]);
}

#[test]
fn create_stores_participant_text_trimmed() {
    let input = ParticipantInput {
        partner_id: " p-1 ".to_owned(),
        kind: " INFLUENCER ".to_owned(),
        name: " Partner p-1 ".to_owned(),
        profile: " Fashion, 200k followers ".to_owned(),
    };
    let command = NewCampaign {
        participants: vec![input],
        ..new_campaign()
    }
    .command();
    given(vec![])
        .when(command)
        .then_expect_events(vec![created(), added("p-1")]);
}

#[test]
fn create_accepts_names_of_100_characters_counting_characters_not_bytes() {
    let name = "é".repeat(100);
    let command = NewCampaign {
        name: name.clone(),
        ..new_campaign()
    }
    .command();
    let events = given(vec![]).when(command).inspect_result().unwrap();
    assert!(matches!(&events[0], CampaignEvent::CampaignCreated { name: stored, .. } if *stored == name));
}

#[test]
fn create_rejects_an_empty_or_too_long_name() {
    for name in [String::new(), "   ".to_owned(), "x".repeat(101)] {
        let command = NewCampaign {
            name,
            ..new_campaign()
        }
        .command();
        given(vec![])
            .when(command)
            .then_expect_error(CampaignError::InvalidName);
    }
}

#[test]
fn create_rejects_an_empty_or_too_long_brand_id() {
    for brand_id in [String::new(), " ".to_owned(), "b".repeat(65)] {
        let command = NewCampaign {
            brand_id,
            ..new_campaign()
        }
        .command();
        given(vec![])
            .when(command)
            .then_expect_error(CampaignError::InvalidBrandId);
    }
}

#[test]
fn create_rejects_an_invalid_budget_with_the_money_error() {
    let cases = [
        (money_input("10000", "XYZ"), Money::parse("1", "XYZ").unwrap_err()),
        (money_input("abc", "USD"), MoneyError::InvalidAmount),
        (money_input("0", "USD"), MoneyError::NonPositiveAmount),
        (
            money_input("10.005", "USD"),
            Money::parse("10.005", "USD").unwrap_err(),
        ),
        (money_input("1000000000000000", "USD"), MoneyError::AmountTooLarge),
    ];
    for (budget, money_error) in cases {
        let command = NewCampaign {
            budget,
            ..new_campaign()
        }
        .command();
        given(vec![])
            .when(command)
            .then_expect_error(CampaignError::InvalidBudget(money_error));
    }
}

#[test]
fn create_rejects_a_schedule_with_only_one_end() {
    let only_start = NewCampaign {
        starts_at: Some(summer().starts_at),
        ..new_campaign()
    };
    given(vec![])
        .when(only_start.command())
        .then_expect_error(CampaignError::IncompleteSchedule { missing: "ends_at" });

    let only_end = NewCampaign {
        ends_at: Some(summer().ends_at),
        ..new_campaign()
    };
    given(vec![])
        .when(only_end.command())
        .then_expect_error(CampaignError::IncompleteSchedule { missing: "starts_at" });
}

#[test]
fn create_rejects_a_schedule_that_does_not_end_after_it_starts() {
    for (starts_at, ends_at) in [(at(2025, 6, 1), at(2025, 6, 1)), (at(2025, 6, 2), at(2025, 6, 1))] {
        let command = NewCampaign {
            starts_at: Some(starts_at),
            ends_at: Some(ends_at),
            ..new_campaign()
        }
        .command();
        given(vec![])
            .when(command)
            .then_expect_error(CampaignError::InvalidSchedule);
    }
}

/// Valid participant `p-<index>` with `change` applied.
fn changed_participant(index: usize, change: impl FnOnce(&mut ParticipantInput)) -> ParticipantInput {
    let mut input = participant_input(&format!("p-{index}"));
    change(&mut input);
    input
}

#[test]
fn create_rejects_invalid_participant_data_naming_its_position() {
    let cases: Vec<(ParticipantInput, ParticipantError)> = vec![
        (
            changed_participant(1, |p| p.partner_id = " ".to_owned()),
            ParticipantError::InvalidPartnerId,
        ),
        (
            changed_participant(1, |p| p.partner_id = "p".repeat(65)),
            ParticipantError::InvalidPartnerId,
        ),
        (
            changed_participant(1, |p| p.kind = "ambassador".to_owned()),
            ParticipantError::InvalidKind {
                value: "ambassador".to_owned(),
            },
        ),
        (
            changed_participant(1, |p| p.name = String::new()),
            ParticipantError::InvalidName,
        ),
        (
            changed_participant(1, |p| p.name = "n".repeat(101)),
            ParticipantError::InvalidName,
        ),
        (
            changed_participant(1, |p| p.profile = "x".repeat(1001)),
            ParticipantError::InvalidProfile,
        ),
    ];
    for (invalid, reason) in cases {
        let command = NewCampaign {
            participants: vec![participant_input("p-0"), invalid],
            ..new_campaign()
        }
        .command();
        given(vec![])
            .when(command)
            .then_expect_error(CampaignError::InvalidParticipant {
                index: Some(1),
                reason,
            });
    }
}

#[test]
fn create_accepts_an_empty_profile_and_one_of_1000_characters() {
    let command = NewCampaign {
        participants: vec![
            changed_participant(0, |p| p.profile = String::new()),
            changed_participant(1, |p| p.profile = "x".repeat(1000)),
        ],
        ..new_campaign()
    }
    .command();
    let events = given(vec![]).when(command).inspect_result().unwrap();
    assert_eq!(events.len(), 3);
}

#[test]
fn create_rejects_a_partner_listed_twice() {
    let command = NewCampaign {
        participants: vec![
            participant_input("p-1"),
            participant_input("p-2"),
            changed_participant(1, |p| p.partner_id = " p-1 ".to_owned()),
        ],
        ..new_campaign()
    }
    .command();
    given(vec![])
        .when(command)
        .then_expect_error(CampaignError::DuplicateParticipant {
            index: Some(2),
            partner_id: "p-1".to_owned(),
        });
}

fn many_participants(count: usize) -> Vec<ParticipantInput> {
    (0..count).map(|i| participant_input(&format!("p-{i}"))).collect()
}

#[test]
fn create_accepts_up_to_the_participant_cap() {
    let command = NewCampaign {
        participants: many_participants(MAX_PARTICIPANTS),
        ..new_campaign()
    }
    .command();
    let events = given(vec![]).when(command).inspect_result().unwrap();
    assert_eq!(events.len(), MAX_PARTICIPANTS + 1);
}

#[test]
fn create_rejects_more_participants_than_the_cap() {
    let command = NewCampaign {
        participants: many_participants(MAX_PARTICIPANTS + 1),
        ..new_campaign()
    }
    .command();
    given(vec![])
        .when(command)
        .then_expect_error(CampaignError::TooManyParticipants {
            index: Some(MAX_PARTICIPANTS),
            max: MAX_PARTICIPANTS,
        });
}

// ---------------------------------------------------------------------------------------------
// AddParticipant

fn add(id: &str) -> CampaignCommand {
    CampaignCommand::AddParticipant {
        participant: participant_input(id),
    }
}

#[test]
fn add_participant_works_in_every_open_status() {
    for events in [draft(), active(), paused()] {
        given(events)
            .when(add("p-2"))
            .then_expect_events(vec![added("p-2")]);
    }
}

#[test]
fn add_participant_rejects_invalid_data_without_a_position() {
    let command = CampaignCommand::AddParticipant {
        participant: changed_participant(2, |p| p.kind = "robot".to_owned()),
    };
    given(draft())
        .when(command)
        .then_expect_error(CampaignError::InvalidParticipant {
            index: None,
            reason: ParticipantError::InvalidKind {
                value: "robot".to_owned(),
            },
        });
}

#[test]
fn add_participant_rejects_each_invalid_field() {
    let cases: Vec<(ParticipantInput, ParticipantError)> = vec![
        (
            changed_participant(2, |p| p.partner_id = String::new()),
            ParticipantError::InvalidPartnerId,
        ),
        (
            changed_participant(2, |p| p.name = " ".to_owned()),
            ParticipantError::InvalidName,
        ),
        (
            changed_participant(2, |p| p.profile = "x".repeat(1001)),
            ParticipantError::InvalidProfile,
        ),
    ];
    for (participant, reason) in cases {
        given(draft())
            .when(CampaignCommand::AddParticipant { participant })
            .then_expect_error(CampaignError::InvalidParticipant { index: None, reason });
    }
}

#[test]
fn add_participant_rejects_a_partner_already_taking_part() {
    given(draft())
        .when(add(" p-1"))
        .then_expect_error(CampaignError::DuplicateParticipant {
            index: None,
            partner_id: "p-1".to_owned(),
        });
}

#[test]
fn add_participant_rejects_going_over_the_cap() {
    let mut events = draft_without_participants();
    events.extend((0..MAX_PARTICIPANTS).map(|i| added(&format!("p-{i}"))));
    given(events)
        .when(add("one-too-many"))
        .then_expect_error(CampaignError::TooManyParticipants {
            index: None,
            max: MAX_PARTICIPANTS,
        });
}

// ---------------------------------------------------------------------------------------------
// RemoveParticipant

fn remove(id: &str) -> CampaignCommand {
    CampaignCommand::RemoveParticipant {
        partner_id: id.to_owned(),
    }
}

fn removed(id: &str) -> CampaignEvent {
    CampaignEvent::ParticipantRemoved {
        partner_id: id.to_owned(),
    }
}

#[test]
fn remove_participant_works_in_every_open_status() {
    for mut events in [draft(), active(), paused()] {
        events.push(added("p-2"));
        given(events)
            .when(remove("p-2"))
            .then_expect_events(vec![removed("p-2")]);
    }
}

#[test]
fn remove_participant_may_empty_a_draft() {
    given(draft())
        .when(remove(" p-1 "))
        .then_expect_events(vec![removed("p-1")]);
}

#[test]
fn remove_participant_rejects_a_partner_not_taking_part() {
    given(draft())
        .when(remove("p-9"))
        .then_expect_error(CampaignError::ParticipantNotFound {
            partner_id: "p-9".to_owned(),
        });
}

#[test]
fn remove_participant_rejects_a_partner_who_already_left() {
    let mut events = draft();
    events.push(removed("p-1"));
    given(events)
        .when(remove("p-1"))
        .then_expect_error(CampaignError::ParticipantNotFound {
            partner_id: "p-1".to_owned(),
        });
}

#[test]
fn remove_participant_keeps_the_last_one_of_a_live_campaign() {
    given(active())
        .when(remove("p-1"))
        .then_expect_error(CampaignError::LastParticipant {
            status: CampaignStatus::Active,
        });
    given(paused())
        .when(remove("p-1"))
        .then_expect_error(CampaignError::LastParticipant {
            status: CampaignStatus::Paused,
        });
}

// ---------------------------------------------------------------------------------------------
// ChangeBudget

#[test]
fn change_budget_works_in_every_open_status() {
    for events in [draft(), active(), paused()] {
        given(events)
            .when(CampaignCommand::ChangeBudget {
                budget: money_input("5000000", "cop"),
            })
            .then_expect_events(vec![CampaignEvent::BudgetChanged {
                budget: money("5000000", "COP"),
            }]);
    }
}

#[test]
fn change_budget_rejects_an_invalid_budget() {
    given(draft())
        .when(CampaignCommand::ChangeBudget {
            budget: money_input("-5", "USD"),
        })
        .then_expect_error(CampaignError::InvalidBudget(MoneyError::NonPositiveAmount));
    given(draft())
        .when(CampaignCommand::ChangeBudget {
            budget: money_input("5000.5", "JPY"),
        })
        .then_expect_error(CampaignError::InvalidBudget(
            Money::parse("5000.5", "JPY").unwrap_err(),
        ));
}

// ---------------------------------------------------------------------------------------------
// Reschedule

#[test]
fn reschedule_works_in_every_open_status() {
    for events in [draft(), active(), paused()] {
        given(events)
            .when(CampaignCommand::Reschedule {
                starts_at: summer().starts_at,
                ends_at: summer().ends_at,
            })
            .then_expect_events(vec![CampaignEvent::CampaignRescheduled { schedule: summer() }]);
    }
}

#[test]
fn reschedule_rejects_a_schedule_that_does_not_end_after_it_starts() {
    given(draft())
        .when(CampaignCommand::Reschedule {
            starts_at: at(2025, 9, 1),
            ends_at: at(2025, 6, 1),
        })
        .then_expect_error(CampaignError::InvalidSchedule);
}

// ---------------------------------------------------------------------------------------------
// Life cycle

fn invalid_transition(from: CampaignStatus, action: &'static str) -> CampaignError {
    CampaignError::InvalidTransition { from, action }
}

#[test]
fn activate_starts_a_draft_with_participants() {
    given(draft())
        .when(CampaignCommand::Activate)
        .then_expect_events(vec![CampaignEvent::CampaignActivated]);
}

#[test]
fn activate_needs_a_participant() {
    given(draft_without_participants())
        .when(CampaignCommand::Activate)
        .then_expect_error(CampaignError::NoParticipants);
    let mut emptied = draft();
    emptied.push(removed("p-1"));
    given(emptied)
        .when(CampaignCommand::Activate)
        .then_expect_error(CampaignError::NoParticipants);
}

#[test]
fn activate_only_starts_drafts() {
    given(active())
        .when(CampaignCommand::Activate)
        .then_expect_error(invalid_transition(CampaignStatus::Active, "activate"));
    given(paused())
        .when(CampaignCommand::Activate)
        .then_expect_error(invalid_transition(CampaignStatus::Paused, "activate"));
}

#[test]
fn pause_stops_an_active_campaign() {
    given(active())
        .when(CampaignCommand::Pause)
        .then_expect_events(vec![CampaignEvent::CampaignPaused]);
}

#[test]
fn pause_only_stops_active_campaigns() {
    given(draft())
        .when(CampaignCommand::Pause)
        .then_expect_error(invalid_transition(CampaignStatus::Draft, "pause"));
    given(paused())
        .when(CampaignCommand::Pause)
        .then_expect_error(invalid_transition(CampaignStatus::Paused, "pause"));
}

#[test]
fn resume_restarts_a_paused_campaign() {
    given(paused())
        .when(CampaignCommand::Resume)
        .then_expect_events(vec![CampaignEvent::CampaignResumed]);
}

#[test]
fn resume_only_restarts_paused_campaigns() {
    given(draft())
        .when(CampaignCommand::Resume)
        .then_expect_error(invalid_transition(CampaignStatus::Draft, "resume"));
    given(active())
        .when(CampaignCommand::Resume)
        .then_expect_error(invalid_transition(CampaignStatus::Active, "resume"));
}

#[test]
fn complete_ends_an_active_or_paused_campaign() {
    for events in [active(), paused()] {
        given(events)
            .when(CampaignCommand::Complete)
            .then_expect_events(vec![CampaignEvent::CampaignCompleted]);
    }
}

#[test]
fn complete_rejects_a_draft() {
    given(draft())
        .when(CampaignCommand::Complete)
        .then_expect_error(invalid_transition(CampaignStatus::Draft, "complete"));
}

#[test]
fn cancel_abandons_an_open_campaign_with_a_trimmed_reason() {
    for events in [draft(), active(), paused()] {
        given(events)
            .when(CampaignCommand::Cancel {
                reason: "  Brand withdrew ".to_owned(),
            })
            .then_expect_events(vec![CampaignEvent::CampaignCancelled {
                reason: "Brand withdrew".to_owned(),
            }]);
    }
}

#[test]
fn cancel_needs_a_reason_of_1_to_500_characters() {
    for reason in [String::new(), "  ".to_owned(), "r".repeat(501)] {
        given(draft())
            .when(CampaignCommand::Cancel { reason })
            .then_expect_error(CampaignError::InvalidReason);
    }
    given(draft())
        .when(CampaignCommand::Cancel {
            reason: "r".repeat(500),
        })
        .then_expect_events(vec![CampaignEvent::CampaignCancelled {
            reason: "r".repeat(500),
        }]);
}

#[test]
fn resumed_campaign_is_active_again() {
    let mut events = paused();
    events.push(CampaignEvent::CampaignResumed);
    given(events)
        .when(CampaignCommand::Pause)
        .then_expect_events(vec![CampaignEvent::CampaignPaused]);
}

// ---------------------------------------------------------------------------------------------
// State rebuilt from events

fn replay(events: Vec<CampaignEvent>) -> Campaign {
    let mut campaign = Campaign::default();
    for event in events {
        campaign.apply(event);
    }
    campaign
}

#[test]
fn a_new_campaign_does_not_exist() {
    let campaign = Campaign::default();
    assert_eq!(campaign.status(), None);
    assert!(campaign.participants().is_empty());
    assert_eq!(campaign.budget(), None);
}

#[test]
fn state_follows_the_events() {
    let mut events = draft();
    events.extend([
        added("p-2"),
        added("p-3"),
        removed("p-2"),
        CampaignEvent::BudgetChanged {
            budget: money("20", "EUR"),
        },
        CampaignEvent::CampaignRescheduled { schedule: summer() },
        CampaignEvent::CampaignActivated,
    ]);
    let campaign = replay(events);
    assert_eq!(campaign.status(), Some(CampaignStatus::Active));
    assert_eq!(campaign.name(), "Summer launch");
    assert_eq!(campaign.brand_id(), "brand-1");
    assert_eq!(campaign.budget(), Some(&money("20", "EUR")));
    assert_eq!(campaign.schedule(), Some(&summer()));
    assert_eq!(campaign.participants(), &[participant("p-1"), participant("p-3")]);
}

#[test]
fn each_life_cycle_event_sets_its_status() {
    let cases = [
        (draft(), CampaignStatus::Draft),
        (active(), CampaignStatus::Active),
        (paused(), CampaignStatus::Paused),
        (completed(), CampaignStatus::Completed),
        (cancelled(), CampaignStatus::Cancelled),
    ];
    for (events, status) in cases {
        assert_eq!(replay(events).status(), Some(status));
    }
}

#[test]
fn campaign_state_round_trips_through_json() {
    let campaign = replay(paused());
    let json = serde_json::to_string(&campaign).unwrap();
    assert_eq!(serde_json::from_str::<Campaign>(&json).unwrap(), campaign);
}

// ---------------------------------------------------------------------------------------------
// Stored event shape

fn every_event() -> Vec<CampaignEvent> {
    vec![
        CampaignEvent::CampaignCreated {
            name: "Summer launch".to_owned(),
            brand_id: "brand-1".to_owned(),
            budget: money("10000", "USD"),
            schedule: Some(summer()),
        },
        added("p-1"),
        removed("p-1"),
        CampaignEvent::BudgetChanged {
            budget: money("5000", "JPY"),
        },
        CampaignEvent::CampaignRescheduled { schedule: summer() },
        CampaignEvent::CampaignActivated,
        CampaignEvent::CampaignPaused,
        CampaignEvent::CampaignResumed,
        CampaignEvent::CampaignCompleted,
        CampaignEvent::CampaignCancelled {
            reason: "Brand withdrew".to_owned(),
        },
    ]
}

#[test]
fn campaign_created_has_a_stable_json_shape() {
    let event = CampaignEvent::CampaignCreated {
        name: "Summer launch".to_owned(),
        brand_id: "brand-1".to_owned(),
        budget: money("10000", "USD"),
        schedule: Some(summer()),
    };
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"CampaignCreated":{"name":"Summer launch","brand_id":"brand-1","budget":{"amount":"10000.00","currency":"USD"},"schedule":{"starts_at":"2025-06-01T00:00:00Z","ends_at":"2025-08-31T00:00:00Z"}}}"#
    );
}

#[test]
fn every_event_has_a_stable_json_shape() {
    let expected = [
        json!({"CampaignCreated": {
            "name": "Summer launch",
            "brand_id": "brand-1",
            "budget": {"amount": "10000.00", "currency": "USD"},
            "schedule": {"starts_at": "2025-06-01T00:00:00Z", "ends_at": "2025-08-31T00:00:00Z"},
        }}),
        json!({"ParticipantAdded": {
            "partner_id": "p-1",
            "kind": "influencer",
            "name": "Partner p-1",
            "profile": "Fashion, 200k followers",
        }}),
        json!({"ParticipantRemoved": {"partner_id": "p-1"}}),
        json!({"BudgetChanged": {"budget": {"amount": "5000", "currency": "JPY"}}}),
        json!({"CampaignRescheduled": {"schedule": {
            "starts_at": "2025-06-01T00:00:00Z",
            "ends_at": "2025-08-31T00:00:00Z",
        }}}),
        json!("CampaignActivated"),
        json!("CampaignPaused"),
        json!("CampaignResumed"),
        json!("CampaignCompleted"),
        json!({"CampaignCancelled": {"reason": "Brand withdrew"}}),
    ];
    for (event, expected) in every_event().into_iter().zip(expected) {
        assert_eq!(serde_json::to_value(&event).unwrap(), expected);
        let read_back: CampaignEvent = serde_json::from_value(expected).unwrap();
        assert_eq!(read_back, event);
    }
}

#[test]
fn created_without_schedule_stores_null() {
    let json = serde_json::to_value(created()).unwrap();
    assert_eq!(json["CampaignCreated"]["schedule"], serde_json::Value::Null);
}

#[test]
fn stored_events_with_invalid_money_are_not_read() {
    let stored = json!({"BudgetChanged": {"budget": {"amount": "1.005", "currency": "USD"}}});
    assert!(serde_json::from_value::<CampaignEvent>(stored).is_err());
}

#[test]
fn event_types_are_the_variant_names_and_all_listed() {
    let events = every_event();
    assert_eq!(events.len(), CAMPAIGN_EVENT_TYPES.len());
    for (event, listed) in events.iter().zip(CAMPAIGN_EVENT_TYPES) {
        assert_eq!(event.event_type(), *listed);
        let version = if event.event_type() == "ParticipantAdded" {
            "2.0"
        } else {
            "1.0"
        };
        assert_eq!(event.event_version(), version);
        let json = serde_json::to_value(event).unwrap();
        let tag = json
            .as_str()
            .map(str::to_owned)
            .or_else(|| json.as_object().and_then(|o| o.keys().next().cloned()));
        assert_eq!(tag.as_deref(), Some(*listed));
    }
}

#[test]
fn aggregate_type_is_stable() {
    assert_eq!(Campaign::TYPE, "Campaign");
}

// ---------------------------------------------------------------------------------------------
// Status

#[test]
fn status_names_parse_and_serialize_in_lowercase() {
    use CampaignStatus::*;
    for status in [Draft, Active, Paused, Completed, Cancelled] {
        assert_eq!(CampaignStatus::parse(status.as_str()), Some(status));
        assert_eq!(serde_json::to_value(status).unwrap(), json!(status.as_str()));
        assert_eq!(status.to_string(), status.as_str());
        assert_eq!(status.is_terminal(), matches!(status, Completed | Cancelled));
    }
    assert_eq!(CampaignStatus::parse("Active"), None);
    assert_eq!(CampaignStatus::parse("archived"), None);
}

// ---------------------------------------------------------------------------------------------
// Error codes, fields and messages

#[test]
fn errors_have_stable_codes_fields_and_categories() {
    use CampaignStatus::*;
    use ErrorCategory::{AlreadyExists, NotFound, Rule};
    let kind = ParticipantError::InvalidKind {
        value: "robot".to_owned(),
    };
    let cases: Vec<(CampaignError, &str, Option<&str>, ErrorCategory)> = vec![
        (CampaignError::NotFound, "campaign.not_found", None, NotFound),
        (
            CampaignError::AlreadyExists,
            "campaign.already_exists",
            None,
            AlreadyExists,
        ),
        (
            CampaignError::InvalidName,
            "campaign.invalid_name",
            Some("name"),
            Rule,
        ),
        (
            CampaignError::InvalidBrandId,
            "campaign.invalid_brand_id",
            Some("brand_id"),
            Rule,
        ),
        (
            CampaignError::InvalidBudget(Money::parse("1", "XYZ").unwrap_err()),
            "money.unknown_currency",
            Some("budget.currency"),
            Rule,
        ),
        (
            CampaignError::InvalidBudget(MoneyError::NonPositiveAmount),
            "money.non_positive_amount",
            Some("budget.amount"),
            Rule,
        ),
        (
            CampaignError::IncompleteSchedule { missing: "ends_at" },
            "campaign.incomplete_schedule",
            Some("ends_at"),
            Rule,
        ),
        (
            CampaignError::IncompleteSchedule { missing: "starts_at" },
            "campaign.incomplete_schedule",
            Some("starts_at"),
            Rule,
        ),
        (
            CampaignError::InvalidSchedule,
            "campaign.invalid_schedule",
            Some("ends_at"),
            Rule,
        ),
        (
            CampaignError::InvalidParticipant {
                index: Some(1),
                reason: kind.clone(),
            },
            "participant.invalid_kind",
            Some("participants[1].kind"),
            Rule,
        ),
        (
            CampaignError::InvalidParticipant {
                index: None,
                reason: kind,
            },
            "participant.invalid_kind",
            Some("kind"),
            Rule,
        ),
        (
            CampaignError::InvalidParticipant {
                index: Some(0),
                reason: ParticipantError::InvalidPartnerId,
            },
            "participant.invalid_partner_id",
            Some("participants[0].partner_id"),
            Rule,
        ),
        (
            CampaignError::InvalidParticipant {
                index: None,
                reason: ParticipantError::InvalidName,
            },
            "participant.invalid_name",
            Some("name"),
            Rule,
        ),
        (
            CampaignError::InvalidParticipant {
                index: Some(3),
                reason: ParticipantError::InvalidProfile,
            },
            "participant.invalid_profile",
            Some("participants[3].profile"),
            Rule,
        ),
        (
            CampaignError::DuplicateParticipant {
                index: Some(2),
                partner_id: "p-1".to_owned(),
            },
            "campaign.duplicate_participant",
            Some("participants[2].partner_id"),
            Rule,
        ),
        (
            CampaignError::DuplicateParticipant {
                index: None,
                partner_id: "p-1".to_owned(),
            },
            "campaign.duplicate_participant",
            Some("partner_id"),
            Rule,
        ),
        (
            CampaignError::TooManyParticipants {
                index: Some(1000),
                max: 1000,
            },
            "campaign.too_many_participants",
            Some("participants[1000]"),
            Rule,
        ),
        (
            CampaignError::TooManyParticipants {
                index: None,
                max: 1000,
            },
            "campaign.too_many_participants",
            None,
            Rule,
        ),
        (
            CampaignError::ParticipantNotFound {
                partner_id: "p-9".to_owned(),
            },
            "campaign.participant_not_found",
            None,
            NotFound,
        ),
        (
            CampaignError::LastParticipant { status: Active },
            "campaign.last_participant",
            None,
            Rule,
        ),
        (
            CampaignError::Closed { status: Completed },
            "campaign.closed",
            None,
            Rule,
        ),
        (
            CampaignError::InvalidTransition {
                from: Draft,
                action: "pause",
            },
            "campaign.invalid_transition",
            None,
            Rule,
        ),
        (
            CampaignError::NoParticipants,
            "campaign.no_participants",
            None,
            Rule,
        ),
        (
            CampaignError::InvalidReason,
            "campaign.invalid_reason",
            Some("reason"),
            Rule,
        ),
    ];
    for (error, code, field, category) in cases {
        assert_eq!(error.code(), code, "{error:?}");
        assert_eq!(error.field().as_deref(), field, "{error:?}");
        assert_eq!(error.category(), category, "{error:?}");
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn error_messages_are_sentences_for_people() {
    let cases = [
        (
            CampaignError::InvalidTransition {
                from: CampaignStatus::Paused,
                action: "activate",
            },
            "cannot activate a campaign that is paused",
        ),
        (
            CampaignError::Closed {
                status: CampaignStatus::Cancelled,
            },
            "the campaign is cancelled and can no longer be changed",
        ),
        (
            CampaignError::InvalidBudget(Money::parse("1", "XYZ").unwrap_err()),
            "invalid budget: currency 'XYZ' is not an ISO 4217 code",
        ),
        (
            CampaignError::InvalidParticipant {
                index: Some(1),
                reason: ParticipantError::InvalidKind {
                    value: "robot".to_owned(),
                },
            },
            "participants[1]: kind 'robot' is not a partner kind; use 'influencer' or 'affiliate'",
        ),
        (
            CampaignError::DuplicateParticipant {
                index: None,
                partner_id: "p-1".to_owned(),
            },
            "partner 'p-1' is already a participant of this campaign",
        ),
        (
            CampaignError::IncompleteSchedule { missing: "ends_at" },
            "starts_at and ends_at must be given together, but ends_at is missing",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn participant_errors_report_fields_relative_to_the_participant() {
    let error = ParticipantError::InvalidProfile;
    assert_eq!(error.code(), "participant.invalid_profile");
    assert_eq!(error.field().as_deref(), Some("profile"));
    assert_eq!(error.category(), ErrorCategory::Rule);
}

// ---------------------------------------------------------------------------------------------
// Input no store downstream can hold

#[test]
fn create_rejects_text_with_control_characters() {
    let mut campaign = new_campaign();
    campaign.name = "Eve\u{0}Launch".to_owned();
    given(vec![])
        .when(campaign.command())
        .then_expect_error(CampaignError::InvalidName);

    let mut campaign = new_campaign();
    let mut nul = participant_input("p-1");
    nul.profile = "line one\nline two\u{0}".to_owned();
    campaign.participants = vec![nul];
    given(vec![])
        .when(campaign.command())
        .then_expect_error(CampaignError::InvalidParticipant {
            index: Some(0),
            reason: ParticipantError::InvalidProfile,
        });
}

#[test]
fn schedules_outside_the_years_1_to_9999_are_rejected() {
    let mut campaign = new_campaign();
    campaign.starts_at = Some(at(0, 6, 1));
    campaign.ends_at = Some(at(2025, 6, 1));
    given(vec![])
        .when(campaign.command())
        .then_expect_error(CampaignError::ScheduleOutOfRange { field: "starts_at" });

    given(draft())
        .when(CampaignCommand::Reschedule {
            starts_at: at(2025, 6, 1),
            ends_at: at(10_000, 1, 1),
        })
        .then_expect_error(CampaignError::ScheduleOutOfRange { field: "ends_at" });
    let error = CampaignError::ScheduleOutOfRange { field: "ends_at" };
    assert_eq!(
        (error.code(), error.field().as_deref()),
        ("campaign.schedule_out_of_range", Some("ends_at"))
    );
}
