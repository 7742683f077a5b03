//! Given/when/then tests of the Partner aggregate, plus the stored shape of its events and the
//! codes and fields of its errors.

use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::json;

use super::*;
use crate::error::{DomainError, ErrorCategory};
use crate::partner_kind::PartnerKind;

// ---------------------------------------------------------------------------------------------
// Fixtures

fn given(events: Vec<PartnerEvent>) -> AggregateTestExecutor<Partner> {
    TestFramework::<Partner>::with(()).given(events)
}

/// The profile fields shared by `RegisterPartner` and `UpdatePartnerProfile`, so each test
/// changes only what it is about.
struct Details {
    name: String,
    kind: String,
    profile: String,
    email: Option<String>,
}

fn details() -> Details {
    Details {
        name: "Ana Gómez".to_owned(),
        kind: "Influencer".to_owned(),
        profile: "Fashion, 200k followers".to_owned(),
        email: Some("ana@example.com".to_owned()),
    }
}

impl Details {
    fn register(self) -> PartnerCommand {
        PartnerCommand::RegisterPartner {
            name: self.name,
            kind: self.kind,
            profile: self.profile,
            email: self.email,
        }
    }

    fn update(self) -> PartnerCommand {
        PartnerCommand::UpdatePartnerProfile {
            name: self.name,
            kind: self.kind,
            profile: self.profile,
            email: self.email,
        }
    }
}

fn registered() -> PartnerEvent {
    PartnerEvent::PartnerRegistered {
        name: "Ana Gómez".to_owned(),
        kind: PartnerKind::Influencer,
        profile: "Fashion, 200k followers".to_owned(),
        email: Some("ana@example.com".to_owned()),
    }
}

fn suspended_event() -> PartnerEvent {
    PartnerEvent::PartnerSuspended {
        reason: "Fake followers".to_owned(),
    }
}

fn active() -> Vec<PartnerEvent> {
    vec![registered()]
}

fn suspended() -> Vec<PartnerEvent> {
    vec![registered(), suspended_event()]
}

fn deactivated() -> Vec<PartnerEvent> {
    vec![registered(), PartnerEvent::PartnerDeactivated]
}

fn suspend(reason: &str) -> PartnerCommand {
    PartnerCommand::SuspendPartner {
        reason: reason.to_owned(),
    }
}

/// Every command except `RegisterPartner`, each valid on some open partner.
fn commands_on_existing_partner() -> Vec<PartnerCommand> {
    vec![
        details().update(),
        suspend("Fake followers"),
        PartnerCommand::ReinstatePartner,
        PartnerCommand::DeactivatePartner,
    ]
}

fn error_of(events: Vec<PartnerEvent>, command: PartnerCommand) -> PartnerError {
    given(events)
        .when(command)
        .inspect_result()
        .expect_err("the command should have been rejected")
}

fn invalid_transition(from: PartnerStatus, action: &'static str) -> PartnerError {
    PartnerError::InvalidTransition { from, action }
}

// ---------------------------------------------------------------------------------------------
// Existence and deactivated partners

#[test]
fn every_command_but_register_needs_an_existing_partner() {
    for command in commands_on_existing_partner() {
        assert_eq!(
            error_of(vec![], command.clone()),
            PartnerError::NotFound,
            "{command:?}"
        );
    }
}

#[test]
fn register_on_an_existing_partner_is_rejected() {
    for events in [active(), suspended(), deactivated()] {
        given(events)
            .when(details().register())
            .then_expect_error(PartnerError::AlreadyExists);
    }
}

#[test]
fn every_command_on_a_deactivated_partner_is_rejected() {
    for command in commands_on_existing_partner() {
        let error = error_of(deactivated(), command.clone());
        assert_eq!(error, PartnerError::Deactivated, "{command:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// RegisterPartner and UpdatePartnerProfile

#[test]
fn register_emits_registered_with_trimmed_and_normalized_details() {
    let command = Details {
        name: "  Ana Gómez ".to_owned(),
        kind: " INFLUENCER".to_owned(),
        profile: " Fashion, 200k followers ".to_owned(),
        email: Some(" ana@Example.COM ".to_owned()),
    }
    .register();
    given(vec![]).when(command).then_expect_events(vec![registered()]);
}

#[test]
fn register_treats_a_missing_or_empty_email_as_none() {
    for email in [None, Some(String::new()), Some("   ".to_owned())] {
        let command = Details {
            kind: "affiliate".to_owned(),
            profile: String::new(),
            email,
            ..details()
        }
        .register();
        given(vec![])
            .when(command)
            .then_expect_events(vec![PartnerEvent::PartnerRegistered {
                name: "Ana Gómez".to_owned(),
                kind: PartnerKind::Affiliate,
                profile: String::new(),
                email: None,
            }]);
    }
}

#[test]
fn update_replaces_the_whole_profile_while_active_or_suspended() {
    for events in [active(), suspended()] {
        let command = Details {
            name: "Ana G.".to_owned(),
            kind: "affiliate".to_owned(),
            profile: "Now links".to_owned(),
            email: None,
        }
        .update();
        given(events)
            .when(command)
            .then_expect_events(vec![PartnerEvent::PartnerProfileUpdated {
                name: "Ana G.".to_owned(),
                kind: PartnerKind::Affiliate,
                profile: "Now links".to_owned(),
                email: None,
            }]);
    }
}

/// Each invalid set of details, with the error it must produce.
fn invalid_details() -> Vec<(Details, PartnerError)> {
    vec![
        (
            Details {
                name: String::new(),
                ..details()
            },
            PartnerError::InvalidName,
        ),
        (
            Details {
                name: "  ".to_owned(),
                ..details()
            },
            PartnerError::InvalidName,
        ),
        (
            Details {
                name: "n".repeat(101),
                ..details()
            },
            PartnerError::InvalidName,
        ),
        (
            Details {
                kind: "ambassador".to_owned(),
                ..details()
            },
            PartnerError::InvalidKind {
                value: "ambassador".to_owned(),
            },
        ),
        (
            Details {
                kind: String::new(),
                ..details()
            },
            PartnerError::InvalidKind { value: String::new() },
        ),
        (
            Details {
                profile: "p".repeat(1001),
                ..details()
            },
            PartnerError::InvalidProfile,
        ),
        (
            Details {
                email: Some("not-an-email".to_owned()),
                ..details()
            },
            PartnerError::InvalidEmail {
                value: "not-an-email".to_owned(),
            },
        ),
    ]
}

#[test]
fn register_rejects_each_invalid_field() {
    for (details, error) in invalid_details() {
        given(vec![]).when(details.register()).then_expect_error(error);
    }
}

#[test]
fn update_rejects_each_invalid_field() {
    for (details, error) in invalid_details() {
        given(active()).when(details.update()).then_expect_error(error);
    }
}

#[test]
fn register_accepts_the_longest_allowed_name_and_profile() {
    let command = Details {
        name: "ñ".repeat(100),
        profile: "p".repeat(1000),
        ..details()
    }
    .register();
    assert!(given(vec![]).when(command).inspect_result().is_ok());
}

fn email_result(email: &str) -> Result<Option<String>, PartnerError> {
    let command = Details {
        email: Some(email.to_owned()),
        ..details()
    }
    .register();
    given(vec![])
        .when(command)
        .inspect_result()
        .map(|events| match events.as_slice() {
            [PartnerEvent::PartnerRegistered { email, .. }] => email.clone(),
            other => panic!("unexpected events {other:?}"),
        })
}

#[test]
fn valid_emails_are_kept_with_a_lowercase_domain() {
    let cases = [
        ("ana@example.com", "ana@example.com"),
        (
            "Ana.Gomez+promo@Mail.Example.CO",
            "Ana.Gomez+promo@mail.example.co",
        ),
        ("a@b-c.io", "a@b-c.io"),
        ("josé@example.com", "josé@example.com"),
    ];
    for (input, stored) in cases {
        assert_eq!(email_result(input), Ok(Some(stored.to_owned())), "{input}");
    }
    let longest_local = format!("{}@example.com", "l".repeat(64));
    assert!(email_result(&longest_local).is_ok());
}

#[test]
fn malformed_emails_are_rejected() {
    let long_local = format!("{}@example.com", "l".repeat(65));
    let long_label = format!("ana@{}.com", "d".repeat(64));
    let long_address = format!("ana@{}.com", vec!["d".repeat(60); 5].join("."));
    let cases = [
        "ana",
        "ana@",
        "@example.com",
        "ana@example",
        "ana@@example.com",
        "ana@b@example.com",
        "ana gomez@example.com",
        "ana\u{7}@example.com",
        "ana@-example.com",
        "ana@example-.com",
        "ana@example..com",
        "ana@.example.com",
        "ana@example.com.",
        "ana@exa_mple.com",
        "ana@exämple.com",
        long_local.as_str(),
        long_label.as_str(),
        long_address.as_str(),
    ];
    for input in cases {
        assert_eq!(
            email_result(input),
            Err(PartnerError::InvalidEmail {
                value: input.to_owned()
            }),
            "{input}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Life cycle

#[test]
fn suspend_bars_an_active_partner_with_a_trimmed_reason() {
    given(active())
        .when(suspend("  Fake followers "))
        .then_expect_events(vec![suspended_event()]);
}

#[test]
fn suspend_needs_a_reason_of_1_to_500_characters() {
    for reason in [String::new(), "   ".to_owned(), "r".repeat(501)] {
        given(active())
            .when(suspend(&reason))
            .then_expect_error(PartnerError::InvalidReason);
    }
    given(active())
        .when(suspend(&"r".repeat(500)))
        .then_expect_events(vec![PartnerEvent::PartnerSuspended {
            reason: "r".repeat(500),
        }]);
}

#[test]
fn suspend_rejects_a_suspended_partner() {
    given(suspended())
        .when(suspend("Again"))
        .then_expect_error(invalid_transition(PartnerStatus::Suspended, "suspend"));
}

#[test]
fn reinstate_lifts_a_suspension() {
    given(suspended())
        .when(PartnerCommand::ReinstatePartner)
        .then_expect_events(vec![PartnerEvent::PartnerReinstated]);
}

#[test]
fn reinstate_rejects_an_active_partner() {
    given(active())
        .when(PartnerCommand::ReinstatePartner)
        .then_expect_error(invalid_transition(PartnerStatus::Active, "reinstate"));
}

#[test]
fn deactivate_retires_an_active_or_suspended_partner() {
    for events in [active(), suspended()] {
        given(events)
            .when(PartnerCommand::DeactivatePartner)
            .then_expect_events(vec![PartnerEvent::PartnerDeactivated]);
    }
}

#[test]
fn reinstated_partner_can_be_suspended_again() {
    let mut events = suspended();
    events.push(PartnerEvent::PartnerReinstated);
    given(events)
        .when(suspend("Fake followers"))
        .then_expect_events(vec![suspended_event()]);
}

// ---------------------------------------------------------------------------------------------
// State rebuilt from events

fn replay(events: Vec<PartnerEvent>) -> Partner {
    let mut partner = Partner::default();
    for event in events {
        partner.apply(event);
    }
    partner
}

#[test]
fn a_new_partner_does_not_exist() {
    let partner = Partner::default();
    assert_eq!(partner.status(), None);
    assert_eq!(partner.kind(), None);
}

#[test]
fn state_follows_the_events() {
    let partner = replay(active());
    assert_eq!(partner.status(), Some(PartnerStatus::Active));
    assert_eq!(partner.name(), "Ana Gómez");
    assert_eq!(partner.kind(), Some(PartnerKind::Influencer));
    assert_eq!(partner.profile(), "Fashion, 200k followers");
    assert_eq!(partner.email(), Some("ana@example.com"));

    let mut events = suspended();
    events.push(PartnerEvent::PartnerProfileUpdated {
        name: "Ana G.".to_owned(),
        kind: PartnerKind::Affiliate,
        profile: String::new(),
        email: None,
    });
    let partner = replay(events);
    assert_eq!(partner.status(), Some(PartnerStatus::Suspended));
    assert_eq!(partner.name(), "Ana G.");
    assert_eq!(partner.kind(), Some(PartnerKind::Affiliate));
    assert_eq!(partner.profile(), "");
    assert_eq!(partner.email(), None);
}

#[test]
fn each_life_cycle_event_sets_its_status() {
    let mut reinstated = suspended();
    reinstated.push(PartnerEvent::PartnerReinstated);
    let cases = [
        (active(), PartnerStatus::Active),
        (suspended(), PartnerStatus::Suspended),
        (reinstated, PartnerStatus::Active),
        (deactivated(), PartnerStatus::Deactivated),
    ];
    for (events, status) in cases {
        assert_eq!(replay(events).status(), Some(status));
    }
}

#[test]
fn partner_state_round_trips_through_json() {
    let partner = replay(suspended());
    let json = serde_json::to_string(&partner).unwrap();
    assert_eq!(serde_json::from_str::<Partner>(&json).unwrap(), partner);
}

// ---------------------------------------------------------------------------------------------
// Stored event shape

fn every_event() -> Vec<PartnerEvent> {
    vec![
        registered(),
        PartnerEvent::PartnerProfileUpdated {
            name: "Ana G.".to_owned(),
            kind: PartnerKind::Affiliate,
            profile: "Links".to_owned(),
            email: None,
        },
        suspended_event(),
        PartnerEvent::PartnerReinstated,
        PartnerEvent::PartnerDeactivated,
    ]
}

#[test]
fn partner_registered_has_a_stable_json_shape() {
    assert_eq!(
        serde_json::to_string(&registered()).unwrap(),
        r#"{"PartnerRegistered":{"name":"Ana Gómez","kind":"influencer","profile":"Fashion, 200k followers","email":"ana@example.com"}}"#
    );
}

#[test]
fn every_event_has_a_stable_json_shape() {
    let expected = [
        json!({"PartnerRegistered": {
            "name": "Ana Gómez",
            "kind": "influencer",
            "profile": "Fashion, 200k followers",
            "email": "ana@example.com",
        }}),
        json!({"PartnerProfileUpdated": {
            "name": "Ana G.",
            "kind": "affiliate",
            "profile": "Links",
            "email": null,
        }}),
        json!({"PartnerSuspended": {"reason": "Fake followers"}}),
        json!("PartnerReinstated"),
        json!("PartnerDeactivated"),
    ];
    for (event, expected) in every_event().into_iter().zip(expected) {
        assert_eq!(serde_json::to_value(&event).unwrap(), expected);
        let read_back: PartnerEvent = serde_json::from_value(expected).unwrap();
        assert_eq!(read_back, event);
    }
}

#[test]
fn event_types_are_the_variant_names_and_all_listed() {
    let events = every_event();
    assert_eq!(events.len(), PARTNER_EVENT_TYPES.len());
    for (event, listed) in events.iter().zip(PARTNER_EVENT_TYPES) {
        assert_eq!(event.event_type(), *listed);
        assert_eq!(event.event_version(), "1.0");
    }
}

#[test]
fn aggregate_type_is_stable() {
    assert_eq!(Partner::TYPE, "Partner");
}

// ---------------------------------------------------------------------------------------------
// Status

#[test]
fn status_names_parse_and_serialize_in_lowercase() {
    use PartnerStatus::*;
    for status in [Active, Suspended, Deactivated] {
        assert_eq!(PartnerStatus::parse(status.as_str()), Some(status));
        assert_eq!(serde_json::to_value(status).unwrap(), json!(status.as_str()));
        assert_eq!(status.to_string(), status.as_str());
        assert_eq!(status.is_terminal(), status == Deactivated);
    }
    assert_eq!(PartnerStatus::parse("ACTIVE"), None);
    assert_eq!(PartnerStatus::parse("banned"), None);
}

// ---------------------------------------------------------------------------------------------
// Error codes, fields and messages

#[test]
fn errors_have_stable_codes_fields_and_categories() {
    use ErrorCategory::{AlreadyExists, NotFound, Rule};
    let cases: Vec<(PartnerError, &str, Option<&str>, ErrorCategory)> = vec![
        (PartnerError::NotFound, "partner.not_found", None, NotFound),
        (
            PartnerError::AlreadyExists,
            "partner.already_exists",
            None,
            AlreadyExists,
        ),
        (
            PartnerError::InvalidName,
            "partner.invalid_name",
            Some("name"),
            Rule,
        ),
        (
            PartnerError::InvalidKind {
                value: "x".to_owned(),
            },
            "partner.invalid_kind",
            Some("kind"),
            Rule,
        ),
        (
            PartnerError::InvalidProfile,
            "partner.invalid_profile",
            Some("profile"),
            Rule,
        ),
        (
            PartnerError::InvalidEmail {
                value: "x".to_owned(),
            },
            "partner.invalid_email",
            Some("email"),
            Rule,
        ),
        (PartnerError::Deactivated, "partner.deactivated", None, Rule),
        (
            invalid_transition(PartnerStatus::Active, "reinstate"),
            "partner.invalid_transition",
            None,
            Rule,
        ),
        (
            PartnerError::InvalidReason,
            "partner.invalid_reason",
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
    assert_eq!(
        invalid_transition(PartnerStatus::Suspended, "suspend").to_string(),
        "cannot suspend a partner that is suspended"
    );
    assert_eq!(
        PartnerError::InvalidEmail {
            value: "ana@".to_owned()
        }
        .to_string(),
        "'ana@' is not a valid email address"
    );
    assert_eq!(
        PartnerError::InvalidKind {
            value: "robot".to_owned()
        }
        .to_string(),
        "kind 'robot' is not a partner kind; use 'influencer' or 'affiliate'"
    );
}

#[test]
fn register_rejects_text_with_control_characters() {
    let mut nul_name = details();
    nul_name.name = "Eve\u{0}Null".to_owned();
    given(vec![])
        .when(nul_name.register())
        .then_expect_error(PartnerError::InvalidName);

    let mut nul_email = details();
    nul_email.email = Some("eve\u{0}@example.com".to_owned());
    let outcome = given(vec![]).when(nul_email.register()).inspect_result();
    assert!(
        matches!(outcome, Err(PartnerError::InvalidEmail { .. })),
        "{outcome:?}"
    );

    given(active())
        .when(suspend("fraud\u{0}"))
        .then_expect_error(PartnerError::InvalidReason);
}
