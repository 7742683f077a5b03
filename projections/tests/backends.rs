//! The projections on both storage backends: each behaviour below runs once on a
//! fresh Postgres database (`…::postgres`) and once on a fresh SQLite file
//! (`…::sqlite`), with events appended straight into the log, and projectors run in
//! this process.

use aggregates::campaign::{CampaignEvent, CampaignStatus, Participant, Schedule};
use aggregates::money::Money;
use aggregates::partner::PartnerEvent;
use aggregates::partner_kind::PartnerKind;
use chrono::{DateTime, Duration as Span, SubsecRound, Utc};
use cqrs_es::DomainEvent;
use projections::queries::{self, CampaignFilter, PartnerFilter};
use projections::rebuild;
use projections::{Projections, ProjectorSettings, ProjectorState, ProjectorStatus};
use serde_json::{json, Value};
use std::time::Duration;
use store::Database;
use store::LogWaker;
use test_support::TestDb;
use tokio::task::JoinSet;
use uuid::Uuid;

/// Runs `$body(TestDb)` as two tests, `$name::postgres` and `$name::sqlite`.
macro_rules! on_both_backends {
    ($($name:ident => $body:ident;)*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body(test_support::TestDb::postgres().await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(test_support::TestDb::sqlite().await).await
            }
        }
    )*};
}

on_both_backends! {
    incremental_projection => projectors_build_the_views_from_the_log;
    rebuild_equals_incremental => a_rebuilt_view_equals_the_incrementally_built_one;
    poison_skip_retry => a_poison_event_stops_the_projector_until_an_operator_skips_it;
    refused_data => an_event_the_database_refuses_poisons_the_projector_at_that_event_only;
    exactly_once => two_processes_over_one_database_apply_each_event_once;
    status_elsewhere => a_process_that_runs_no_projector_sees_whether_another_runs_it;
    upcasting => events_stored_in_an_old_version_are_upcast;
    graceful_stop => a_projector_stopped_gracefully_gives_its_lease_up;
}

// ---------------------------------------------------------------------------------
// Appending raw events.

/// An event as the log stores it, with its identity fixed by the test (so the same
/// history can be appended to two databases).
#[derive(Clone)]
struct Raw {
    aggregate_type: &'static str,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Value,
    event_id: Uuid,
    /// Millisecond precision: what both backends' logs keep.
    recorded_at: DateTime<Utc>,
}

fn now_ms() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn campaign_event(id: &str, sequence: i64, event: CampaignEvent) -> Raw {
    Raw {
        aggregate_type: "Campaign",
        aggregate_id: id.to_owned(),
        sequence,
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_value(&event).unwrap(),
        event_id: Uuid::now_v7(),
        recorded_at: now_ms(),
    }
}

fn partner_event(id: &str, sequence: i64, event: PartnerEvent) -> Raw {
    Raw {
        aggregate_type: "Partner",
        aggregate_id: id.to_owned(),
        sequence,
        event_type: event.event_type(),
        event_version: event.event_version(),
        payload: serde_json::to_value(&event).unwrap(),
        event_id: Uuid::now_v7(),
        recorded_at: now_ms(),
    }
}

/// An event whose payload is given as stored (possibly not decodable).
fn raw_campaign_event(id: &str, sequence: i64, event_type: &str, version: &str, payload: Value) -> Raw {
    Raw {
        aggregate_type: "Campaign",
        aggregate_id: id.to_owned(),
        sequence,
        event_type: event_type.to_owned(),
        event_version: version.to_owned(),
        payload,
        event_id: Uuid::now_v7(),
        recorded_at: now_ms(),
    }
}

fn created(name: &str, brand: &str, amount: &str, schedule: Option<Schedule>) -> CampaignEvent {
    CampaignEvent::CampaignCreated {
        name: name.into(),
        brand_id: brand.into(),
        budget: Money::parse(amount, "USD").unwrap(),
        schedule,
    }
}

fn participant(partner_id: &str) -> CampaignEvent {
    CampaignEvent::ParticipantAdded(Participant {
        partner_id: partner_id.into(),
        kind: PartnerKind::Influencer,
        name: format!("Name of {partner_id}"),
        profile: "profile".into(),
    })
}

fn registered(name: &str, kind: PartnerKind) -> PartnerEvent {
    PartnerEvent::PartnerRegistered {
        name: name.into(),
        kind,
        profile: "about".into(),
        email: None,
    }
}

/// Appends `events` in one transaction (a write transaction on SQLite, whose readers
/// are then woken in-process); answers their positions.
async fn append(db: &Database, events: &[Raw]) -> Vec<i64> {
    let mut positions = Vec::new();
    if let Some(pool) = db.as_postgres() {
        {
            let mut tx = pool.begin().await.unwrap();
            for e in events {
                positions.push(
                    sqlx::query_scalar(
                        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                             payload, metadata, event_id, recorded_at)
                         VALUES ($1, $2, $3, $4, $5, $6::json, '{}', $7, $8) RETURNING position",
                    )
                    .bind(e.aggregate_type)
                    .bind(&e.aggregate_id)
                    .bind(e.sequence)
                    .bind(&e.event_type)
                    .bind(&e.event_version)
                    .bind(e.payload.to_string())
                    .bind(e.event_id)
                    .bind(e.recorded_at)
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap(),
                );
            }
            tx.commit().await.unwrap();
        }
    } else {
        let sqlite = db.as_sqlite().unwrap();
        {
            let mut tx = sqlite.begin_write().await.unwrap();
            for e in events {
                positions.push(
                    sqlx::query_scalar(
                        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                                             payload, metadata, event_id, recorded_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, '{}', ?7, ?8) RETURNING position",
                    )
                    .bind(e.aggregate_type)
                    .bind(&e.aggregate_id)
                    .bind(e.sequence)
                    .bind(&e.event_type)
                    .bind(&e.event_version)
                    .bind(e.payload.to_string())
                    .bind(e.event_id.to_string())
                    .bind(e.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap(),
                );
            }
            tx.commit().await.unwrap();
            db.wake_readers().await.unwrap();
        }
    }
    positions
}

/// Runs `sql` (the same text on both backends) and answers its single integer.
async fn scalar(db: &Database, sql: &str) -> i64 {
    test_support::scalar(db, sql, &[]).await
}

// ---------------------------------------------------------------------------------
// Running projectors.

fn settings() -> ProjectorSettings {
    ProjectorSettings {
        poison_retry_delays: vec![Duration::from_millis(10), Duration::from_millis(20)],
        leadership_check: Duration::from_millis(50),
        poll_interval: Duration::from_millis(200),
        ..ProjectorSettings::default()
    }
}

/// The projectors of one "process": handles, and (when started) their tasks, aborted
/// on drop as a crash would.
struct Process {
    projections: Projections,
    tasks: JoinSet<()>,
}

impl Process {
    /// Handles only, as the CLI has.
    fn handles(db: &Database) -> Process {
        let (projections, _not_run) =
            Projections::new(db, &LogWaker::never(), &settings(), aggregates::upcasters::all);
        Process {
            projections,
            tasks: JoinSet::new(),
        }
    }

    /// Projectors running, as `alpes serve` runs them.
    fn start(db: &Database) -> Process {
        let (projections, projectors) =
            Projections::new(db, &LogWaker::spawn(db), &settings(), aggregates::upcasters::all);
        let mut tasks = JoinSet::new();
        for projector in projectors {
            tasks.spawn(projector.run());
        }
        Process { projections, tasks }
    }

    async fn status(&self, name: &str) -> ProjectorStatus {
        self.projections.get(name).unwrap().status().await.unwrap()
    }

    /// Waits (at most 10 s) for a status that satisfies `done`.
    async fn wait_for(&self, name: &str, done: impl Fn(&ProjectorStatus) -> bool) -> ProjectorStatus {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let status = self.status(name).await;
            if done(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never got there: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until both views applied `position`.
    async fn caught_up(&self, position: i64) {
        let waited = self
            .projections
            .wait_until_applied(&["campaigns", "partners"], position, Duration::from_secs(10))
            .await
            .unwrap();
        if let Err(behind) = waited {
            let status = self.status(behind.projection).await;
            panic!("{behind:?} never applied {position}: {status:?}");
        }
    }
}

/// Every row of the read models, in a stable order, to compare two builds of them.
async fn read_models(db: &Database) -> Value {
    let campaigns = queries::list_campaigns(
        db,
        &CampaignFilter {
            limit: 1000,
            ..CampaignFilter::default()
        },
    )
    .await
    .unwrap();
    let partners = queries::list_partners(
        db,
        &PartnerFilter {
            limit: 1000,
            ..PartnerFilter::default()
        },
    )
    .await
    .unwrap();
    let sql = "SELECT partner_id, campaign_id, campaign_name, campaign_status FROM partner_campaigns
               ORDER BY partner_id, campaign_id";
    let participations: Vec<(String, String, String, String)> = match db.as_postgres() {
        Some(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        None => sqlx::query_as(sql)
            .fetch_all(db.as_sqlite().unwrap().pool())
            .await
            .unwrap(),
    };
    json!({
        "campaigns": campaigns.items,
        "partners": partners.items,
        "participations": participations,
    })
}

/// A bit of everything: two partners, four campaigns in various states. Answers the
/// last position.
async fn some_history(db: &Database) -> i64 {
    let (alice, bob) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    append(
        db,
        &[
            partner_event(&alice, 1, registered("Alice", PartnerKind::Influencer)),
            partner_event(&bob, 1, registered("Bob", PartnerKind::Affiliate)),
        ],
    )
    .await;
    let mut last = 0;
    for i in 0..4 {
        let id = Uuid::now_v7().to_string();
        let mut events = vec![
            campaign_event(&id, 1, created(&format!("C{i}"), "brand", "10.00", None)),
            campaign_event(&id, 2, participant(&alice)),
            campaign_event(&id, 3, participant(&format!("p-{i}"))),
            campaign_event(&id, 4, CampaignEvent::CampaignActivated),
        ];
        if i % 2 == 0 {
            events.push(campaign_event(&id, 5, CampaignEvent::CampaignPaused));
        }
        let next = events.len() as i64 + 1;
        events.push(campaign_event(
            &id,
            next,
            CampaignEvent::ParticipantRemoved {
                partner_id: format!("p-{i}"),
            },
        ));
        last = *append(db, &events).await.last().unwrap();
    }
    let suspended = append(
        db,
        &[partner_event(
            &bob,
            2,
            PartnerEvent::PartnerSuspended { reason: "r".into() },
        )],
    )
    .await;
    last.max(suspended[0])
}

// ---------------------------------------------------------------------------------
// The behaviours.

async fn projectors_build_the_views_from_the_log(test: TestDb) {
    let db = &test.db;
    let partner = Uuid::now_v7().to_string();
    let campaign = Uuid::now_v7().to_string();
    let schedule = Schedule {
        starts_at: "2026-12-01T10:00:00.123456Z".parse().unwrap(),
        ends_at: "2027-01-01T00:00:00Z".parse().unwrap(),
    };
    append(
        db,
        &[partner_event(
            &partner,
            1,
            registered("Élodie", PartnerKind::Affiliate),
        )],
    )
    .await;
    let positions = append(
        db,
        &[
            campaign_event(
                &campaign,
                1,
                created("Launch", "b-1", "12345678901234.83", Some(schedule)),
            ),
            campaign_event(&campaign, 2, participant(&partner.to_uppercase())),
            campaign_event(&campaign, 3, CampaignEvent::CampaignActivated),
        ],
    )
    .await;
    let last = *positions.last().unwrap();

    // Nothing runs the projectors yet: a read-your-writes wait gives up, saying where
    // the view is.
    let idle = Process::handles(db);
    let waited = idle
        .projections
        .wait_until_applied(&["campaigns"], last, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(
        waited,
        Err(projections::NotCaughtUp {
            projection: "campaigns",
            checkpoint: 0
        })
    );
    assert_eq!(idle.status("campaigns").await.state, ProjectorState::Stopped);

    let process = Process::start(db);
    process.caught_up(last).await;

    let view = queries::get_campaign(db, &campaign).await.unwrap().unwrap();
    assert_eq!(view.name, "Launch");
    assert_eq!(view.status, CampaignStatus::Active);
    assert_eq!(view.version, 3);
    assert_eq!(view.budget.amount().to_string(), "12345678901234.83");
    assert_eq!(view.starts_at, Some(schedule.starts_at), "microseconds are kept");
    assert_eq!(view.ends_at, Some(schedule.ends_at));
    assert_eq!(view.participants.len(), 1);
    // The participation is filed under the partner's canonical id.
    let (partner_view, campaigns) = queries::get_partner(db, &partner).await.unwrap().unwrap();
    assert_eq!(partner_view.name, "Élodie");
    assert_eq!(campaigns.len(), 1);
    assert_eq!(campaigns[0].id, campaign);
    assert_eq!(campaigns[0].status, CampaignStatus::Active);
    assert!(queries::get_campaign(db, "nope").await.unwrap().is_none());
    assert!(queries::get_partner(db, "nope").await.unwrap().is_none());

    let stream = queries::campaign_events(db, &campaign).await.unwrap();
    assert_eq!(stream.len(), 3);
    assert_eq!(stream[2].position, last);
    assert_eq!(stream[0].event_type, "CampaignCreated");
    assert_eq!(
        stream[0].payload["CampaignCreated"]["budget"]["amount"],
        "12345678901234.83"
    );

    let status = process.wait_for("campaigns", |s| s.lag == 0).await;
    assert_eq!(status.state, ProjectorState::Running);
    assert_eq!(status.checkpoint, last);
    assert_eq!(status.head, last);
    assert_eq!(status.events_applied, 4, "every event of the log, once");
    assert!(status.last_error.is_none());

    // A later event updates the view.
    let paused = append(db, &[campaign_event(&campaign, 4, CampaignEvent::CampaignPaused)]).await;
    process.caught_up(paused[0]).await;
    let view = queries::get_campaign(db, &campaign).await.unwrap().unwrap();
    assert_eq!((view.status, view.version), (CampaignStatus::Paused, 4));
    let (_, campaigns) = queries::get_partner(db, &partner).await.unwrap().unwrap();
    assert_eq!(campaigns[0].status, CampaignStatus::Paused);
}

async fn a_rebuilt_view_equals_the_incrementally_built_one(test: TestDb) {
    let db = &test.db;
    let process = Process::start(db);
    let last = some_history(db).await;
    process.caught_up(last).await;
    let incremental = read_models(db).await;
    assert_eq!(incremental["campaigns"].as_array().unwrap().len(), 4);
    assert_eq!(incremental["participations"].as_array().unwrap().len(), 4);

    // Twice: on SQLite the second rebuild copies the indexes the first one swapped in.
    for round in 0..2 {
        for name in ["campaigns", "partners"] {
            let handle = process.projections.get(name).unwrap();
            let mut calls = 0;
            let report = rebuild::rebuild(handle, |_| calls += 1).await.unwrap();
            assert!(report.events > 0 && calls > 0, "{name}");
            let status = process.wait_for(name, |s| s.lag == 0).await;
            assert_eq!(status.state, ProjectorState::Running, "{name}: {status:?}");
            assert!(status.rebuild_position.is_none());
        }
        assert_eq!(read_models(db).await, incremental, "round {round}");
    }
    let (shadows, indexes) = match db.backend() {
        store::Backend::Postgres => (
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%\\_\\_rebuild'",
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'campaign_view'",
        ),
        store::Backend::Sqlite => (
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name LIKE '%\\_\\_rebuild' ESCAPE '\\'",
            // The primary key's own index included.
            "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'campaign_view'",
        ),
    };
    assert_eq!(scalar(db, shadows).await, 0, "the swap dropped the shadows");
    assert_eq!(scalar(db, indexes).await, 3, "the live table keeps its indexes");

    // The view keeps following the log after the swaps.
    let id = Uuid::now_v7().to_string();
    let position = append(
        db,
        &[campaign_event(&id, 1, created("After", "brand", "1.00", None))],
    )
    .await;
    process.caught_up(position[0]).await;
    assert!(queries::get_campaign(db, &id).await.unwrap().is_some());
    let status = process.status("campaigns").await;
    assert_eq!(
        status.events_applied, status.checkpoint,
        "rebuilt count, then one more"
    );
}

async fn a_poison_event_stops_the_projector_until_an_operator_skips_it(test: TestDb) {
    let db = &test.db;
    let process = Process::start(db);
    let campaigns = process.projections.get("campaigns").unwrap();
    assert_eq!(
        campaigns.skip().await.unwrap(),
        projections::projector::Intervention::NotFailed
    );
    assert_eq!(
        campaigns.retry().await.unwrap(),
        projections::projector::Intervention::NotFailed
    );

    let poison = raw_campaign_event(
        &Uuid::now_v7().to_string(),
        1,
        "CampaignCreated",
        "1.0",
        json!({"CampaignCreated": {"nonsense": true}}),
    );
    let poison_position = append(db, std::slice::from_ref(&poison)).await[0];
    let after = Uuid::now_v7().to_string();
    let after_position = append(
        db,
        &[campaign_event(&after, 1, created("After", "b", "1.00", None))],
    )
    .await[0];

    let failed = process
        .wait_for("campaigns", |s| s.state == ProjectorState::Failed)
        .await;
    assert_eq!(failed.failed_position, Some(poison_position));
    assert_eq!(failed.failed_event_id, Some(poison.event_id));
    assert!(
        failed.last_error.as_deref().unwrap().contains("CampaignCreated"),
        "{failed:?}"
    );
    assert_eq!(failed.checkpoint, poison_position - 1, "stopped right before it");
    // It stopped at the poison event: the later campaign is not visible...
    assert!(queries::get_campaign(db, &after).await.unwrap().is_none());
    // ...and a read-your-writes wait says where it is.
    let waited = process
        .projections
        .wait_until_applied(&["campaigns"], after_position, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(waited.unwrap_err().checkpoint, poison_position - 1);
    // The other projector is not affected.
    process
        .wait_for("partners", |s| s.state == ProjectorState::Running && s.lag == 0)
        .await;

    // Retrying fails again (the event is still bad)...
    assert_eq!(
        campaigns.retry().await.unwrap(),
        projections::projector::Intervention::Done
    );
    process
        .wait_for("campaigns", |s| s.state == ProjectorState::Failed)
        .await;
    // ...skipping moves on.
    assert_eq!(
        campaigns.skip().await.unwrap(),
        projections::projector::Intervention::Done
    );
    process.caught_up(after_position).await;
    assert!(queries::get_campaign(db, &after).await.unwrap().is_some());
    let status = process.wait_for("campaigns", |s| s.lag == 0).await;
    assert_eq!(status.state, ProjectorState::Running);
    assert!(status.failed_event_id.is_none() && status.last_error.is_none());
    assert_eq!(
        status.events_applied, 1,
        "the skipped event is not counted as applied"
    );
    let skipped = skipped_event_ids(db, "campaigns").await;
    assert_eq!(skipped, vec![poison.event_id]);

    // Skipped, it stays skipped in a rebuilt view.
    let before = read_models(db).await;
    rebuild::rebuild(campaigns, |_| {}).await.unwrap();
    assert_eq!(read_models(db).await, before);
    assert_eq!(process.status("campaigns").await.state, ProjectorState::Running);
}

async fn skipped_event_ids(db: &Database, name: &str) -> Vec<Uuid> {
    match db.as_postgres() {
        Some(pool) => {
            sqlx::query_scalar("SELECT skipped_event_ids FROM projector_checkpoints WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await
                .unwrap()
        }
        None => {
            let sqlite = db.as_sqlite().unwrap();
            let text: String =
                sqlx::query_scalar("SELECT skipped_event_ids FROM projector_checkpoints WHERE name = ?1")
                    .bind(name)
                    .fetch_one(sqlite.pool())
                    .await
                    .unwrap();
            serde_json::from_str(&text).unwrap()
        }
    }
}

async fn an_event_the_database_refuses_poisons_the_projector_at_that_event_only(test: TestDb) {
    let db = &test.db;
    let process = Process::start(db);
    process
        .wait_for("campaigns", |s| s.state == ProjectorState::Running)
        .await;
    // One transaction: a good campaign, then one that lists a partner twice (raw
    // events: the aggregate refuses that), which the partner_campaigns key refuses
    // on both backends.
    let (good, bad) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let positions = append(
        db,
        &[
            campaign_event(&good, 1, created("Good", "b", "1.00", None)),
            campaign_event(&bad, 1, created("Bad", "b", "1.00", None)),
            campaign_event(&bad, 2, participant("p-1")),
            campaign_event(&bad, 3, participant("p-1")),
        ],
    )
    .await;

    let failed = process
        .wait_for("campaigns", |s| s.state == ProjectorState::Failed)
        .await;
    assert_eq!(failed.failed_position, Some(positions[3]));
    assert!(
        failed.last_error.as_deref().unwrap().contains("refused"),
        "{failed:?}"
    );
    // Everything before it was applied, one event at a time.
    assert_eq!(failed.checkpoint, positions[2]);
    assert_eq!(
        queries::get_campaign(db, &good).await.unwrap().unwrap().version,
        1
    );
    let bad_view = queries::get_campaign(db, &bad).await.unwrap().unwrap();
    assert_eq!((bad_view.version, bad_view.participants.len()), (2, 1));

    // Skipped, it stays skipped in a rebuilt view.
    assert_eq!(
        process
            .projections
            .get("campaigns")
            .unwrap()
            .skip()
            .await
            .unwrap(),
        projections::projector::Intervention::Done
    );
    process
        .wait_for("campaigns", |s| s.state == ProjectorState::Running && s.lag == 0)
        .await;
    let before = read_models(db).await;
    rebuild::rebuild(process.projections.get("campaigns").unwrap(), |_| {})
        .await
        .unwrap();
    assert_eq!(read_models(db).await, before);
}

async fn two_processes_over_one_database_apply_each_event_once(test: TestDb) {
    let db = &test.db;
    // Two "processes" over one database, each with its own connections (on SQLite its
    // own handle on the file: its own write turn, SQLite's busy handler between them,
    // and no in-process wake-up from the other's appends). On both backends one leads
    // and the other stands by (Postgres: an advisory lock; SQLite: a lease row); the
    // checkpoint still fences every batch, should two ever lead at once (a lease that
    // expired while its holder was paused).
    let other = Database::connect(&test.url, 8).await.expect("a second handle");
    let first = Process::start(db);
    let second = Process::start(&other);
    let partner = Uuid::now_v7().to_string();
    append(
        db,
        &[partner_event(
            &partner,
            1,
            registered("P", PartnerKind::Affiliate),
        )],
    )
    .await;
    let mut total = 1;
    let mut campaign_events = 0;
    let mut last = 0;
    for round in 0..30 {
        let id = Uuid::now_v7().to_string();
        let mut events = vec![campaign_event(
            &id,
            1,
            created(&format!("C{round}"), "b", "1.00", None),
        )];
        for sequence in 2..=(1 + round % 3) {
            events.push(campaign_event(
                &id,
                sequence,
                participant(&format!("p-{sequence}")),
            ));
        }
        campaign_events += events.len() as i64 + 1;
        append(db, &events).await;
        // Events a second application of would go unnoticed by the folds: an
        // activation, a suspension and a reinstatement (and each view ignores the
        // other's events, but counts them).
        let activated = CampaignEvent::CampaignActivated;
        append(db, &[campaign_event(&id, events.len() as i64 + 1, activated)]).await;
        let suspended = PartnerEvent::PartnerSuspended { reason: "r".into() };
        append(db, &[partner_event(&partner, 2 * round + 2, suspended)]).await;
        let reinstated = PartnerEvent::PartnerReinstated;
        last = append(db, &[partner_event(&partner, 2 * round + 3, reinstated)]).await[0];
        total += events.len() as i64 + 3;
    }
    first.caught_up(last).await;
    second.caught_up(last).await;
    for name in ["campaigns", "partners"] {
        let status = first.wait_for(name, |s| s.lag == 0).await;
        assert_eq!(
            status.events_applied, total,
            "{name}: each event applied exactly once"
        );
    }
    assert_eq!(
        scalar(db, "SELECT CAST(sum(version) AS bigint) FROM campaign_view").await,
        campaign_events
    );
    // One leads, the other stands by. Under load a lease can expire before its
    // holder renews it (SQLite: another process's writers hold the file), and for a
    // moment both lead (their batches are fenced, as counted above): it settles.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let states = [
            first.status("campaigns").await.state,
            second.status("campaigns").await.state,
        ];
        if states.contains(&ProjectorState::Running) && states.contains(&ProjectorState::Standby) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{states:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_process_that_runs_no_projector_sees_whether_another_runs_it(test: TestDb) {
    let db = &test.db;
    let cli = Process::handles(db);
    assert_eq!(cli.status("campaigns").await.state, ProjectorState::Stopped);
    let mut server = Process::start(db);
    server
        .wait_for("campaigns", |s| s.state == ProjectorState::Running)
        .await;
    cli.wait_for("campaigns", |s| s.state == ProjectorState::Running)
        .await;

    // The server dies: its lock goes with its connection (Postgres), its lease expires
    // (SQLite: ten poll intervals, 2 s here).
    server.tasks.abort_all();
    while server.tasks.join_next().await.is_some() {}
    cli.wait_for("campaigns", |s| s.state == ProjectorState::Stopped)
        .await;
}

async fn events_stored_in_an_old_version_are_upcast(test: TestDb) {
    let db = &test.db;
    let process = Process::start(db);
    let id = Uuid::now_v7().to_string();
    let v1 = json!({"ParticipantAdded": {"participant":
        {"partner_id": "p-old", "kind": "affiliate", "name": "Old Partner", "profile": ""}}});
    let positions = append(
        db,
        &[
            campaign_event(&id, 1, created("Old", "b", "1.00", None)),
            raw_campaign_event(&id, 2, "ParticipantAdded", "1.0", v1),
        ],
    )
    .await;
    process.caught_up(positions[1]).await;
    let view = queries::get_campaign(db, &id).await.unwrap().unwrap();
    assert_eq!(view.participants[0].partner_id, "p-old");
    assert_eq!(view.participants[0].kind, PartnerKind::Affiliate);
}

// ---------------------------------------------------------------------------------
// Queries: the same history on both backends answers the same pages.

/// A history exercising ordering, filters, keyset pagination, money, timestamps and
/// the name search. Built once, appended to both databases.
fn query_history() -> (Vec<Vec<Raw>>, Vec<String>) {
    let partners = [
        ("Alice Doe", PartnerKind::Influencer),
        ("Élodie Martin", PartnerKind::Affiliate),
        ("Bob 50%_off", PartnerKind::Affiliate),
        ("ALICIA Keys", PartnerKind::Influencer),
    ];
    let partner_ids: Vec<String> = partners.iter().map(|_| Uuid::now_v7().to_string()).collect();
    let mut transactions = vec![partners
        .iter()
        .zip(&partner_ids)
        .map(|((name, kind), id)| partner_event(id, 1, registered(name, *kind)))
        .collect::<Vec<_>>()];
    transactions.push(vec![partner_event(
        &partner_ids[1],
        2,
        PartnerEvent::PartnerSuspended { reason: "r".into() },
    )]);
    let start: DateTime<Utc> = "2026-12-01T10:00:00.5Z".parse().unwrap();
    let mut campaign_ids = Vec::new();
    for i in 0..7i64 {
        let id = Uuid::now_v7().to_string();
        campaign_ids.push(id.clone());
        let schedule = (i % 2 == 0).then(|| Schedule {
            starts_at: start + Span::microseconds(i * 1_000_001),
            ends_at: start + Span::days(30),
        });
        let brand = if i % 3 == 0 { "b-1" } else { "b-2" };
        let mut events = vec![campaign_event(
            &id,
            1,
            created(
                &format!("Campaign {i}"),
                brand,
                &format!("{}.5", 1000 + i),
                schedule,
            ),
        )];
        events.push(campaign_event(&id, 2, participant(&partner_ids[i as usize % 4])));
        if i % 2 == 1 {
            events.push(campaign_event(&id, 3, CampaignEvent::CampaignActivated));
        }
        transactions.push(events);
    }
    (transactions, campaign_ids)
}

/// Everything the query endpoints can ask, answered by one database.
async fn query_answers(db: &Database) -> Value {
    let mut answers = serde_json::Map::new();
    let campaign_filters = [
        ("all", None, None),
        ("brand b-1", Some("b-1"), None),
        ("active", None, Some(CampaignStatus::Active)),
        ("b-2 draft", Some("b-2"), Some(CampaignStatus::Draft)),
        ("none", Some("b-3"), None),
    ];
    for (label, brand, status) in campaign_filters {
        answers.insert(
            format!("campaigns {label}"),
            campaign_pages(db, brand, status).await,
        );
    }
    let partner_filters = [
        ("all", None, None, None),
        ("q ALIC", Some("ALIC"), None, None),
        ("q ÉLO", Some("ÉLO"), None, None),
        ("q literal %_", Some("%_"), None, None),
        ("q nothing", Some("zzz"), None, None),
        ("affiliates", None, Some(PartnerKind::Affiliate), None),
        (
            "suspended affiliates",
            None,
            Some(PartnerKind::Affiliate),
            Some(aggregates::partner::PartnerStatus::Suspended),
        ),
    ];
    for (label, q, kind, status) in partner_filters {
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = queries::list_partners(
                db,
                &PartnerFilter {
                    kind,
                    status,
                    name_contains: q.map(str::to_owned),
                    after: after.clone(),
                    limit: 1,
                    ..PartnerFilter::default()
                },
            )
            .await
            .unwrap();
            let next = page.next_cursor.clone();
            pages.push(serde_json::to_value(&page).unwrap());
            match next {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        answers.insert(format!("partners {label}"), Value::Array(pages));
    }
    let all = queries::list_partners(
        db,
        &PartnerFilter {
            limit: 100,
            ..PartnerFilter::default()
        },
    )
    .await
    .unwrap();
    for partner in all.items {
        let (view, campaigns) = queries::get_partner(db, &partner.id).await.unwrap().unwrap();
        // What a partner's token sees: the campaigns that list it, and itself alone.
        let listing = CampaignFilter {
            participant: Some(partner.id.clone()),
            limit: 100,
            ..CampaignFilter::default()
        };
        let listing = queries::list_campaigns(db, &listing).await.unwrap().items;
        assert_eq!(listing.len(), campaigns.len(), "{}", view.name);
        assert!(listing
            .iter()
            .all(|campaign| campaign.participants.iter().any(|p| p.partner_id == partner.id)));
        let alone = PartnerFilter {
            id: Some(partner.id.clone()),
            limit: 100,
            ..PartnerFilter::default()
        };
        let alone = queries::list_partners(db, &alone).await.unwrap().items;
        assert_eq!(alone.iter().map(|p| &p.id).collect::<Vec<_>>(), [&partner.id]);
        let stream = queries::partner_events(db, &partner.id).await.unwrap();
        assert_eq!(stream[0].event_type, "PartnerRegistered", "{}", view.name);
        let names: Vec<&str> = listing.iter().map(|campaign| campaign.name.as_str()).collect();
        answers.insert(format!("campaigns listing {}", view.name), json!(names));
        answers.insert(format!("partner {}", view.name), json!([view, campaigns]));
    }
    Value::Object(answers)
}

/// Every page of a campaign listing, two campaigns at a time.
async fn campaign_pages(db: &Database, brand: Option<&str>, status: Option<CampaignStatus>) -> Value {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = queries::list_campaigns(
            db,
            &CampaignFilter {
                brand_id: brand.map(str::to_owned),
                status,
                after: after.clone(),
                limit: 2,
                ..CampaignFilter::default()
            },
        )
        .await
        .unwrap();
        let next = page.next_cursor.clone();
        pages.push(serde_json::to_value(&page).unwrap());
        match next {
            Some(cursor) => after = Some(cursor),
            None => break,
        }
    }
    Value::Array(pages)
}

fn ids(pages: &Value) -> Vec<String> {
    pages
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap())
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

fn names(pages: &Value) -> Vec<String> {
    pages
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap())
        .map(|item| item["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_the_same_pages_on_both_backends() {
    let (history, campaign_ids) = query_history();
    let mut answers = Vec::new();
    for test in [TestDb::postgres().await, TestDb::sqlite().await] {
        let db = &test.db;
        let mut last = 0;
        for events in &history {
            last = *append(db, events).await.last().unwrap();
        }
        let process = Process::start(db);
        process.caught_up(last).await;
        answers.push((db.backend(), query_answers(db).await));
    }
    let (_, sqlite) = answers.pop().unwrap();
    let (_, postgres) = answers.pop().unwrap();

    // What the answers must be (so that equal answers are also right answers)...
    let all = &sqlite["campaigns all"];
    assert_eq!(ids(all), campaign_ids, "oldest first, across pages");
    assert_eq!(all.as_array().unwrap().len(), 4, "7 campaigns, 2 a page");
    assert!(all[3]["next_cursor"].is_null());
    assert_eq!(all[0]["next_cursor"], campaign_ids[1].as_str());
    assert_eq!(
        ids(&sqlite["campaigns brand b-1"]),
        [0, 3, 6].map(|i| campaign_ids[i].clone())
    );
    assert_eq!(
        ids(&sqlite["campaigns active"]),
        [1, 3, 5].map(|i| campaign_ids[i].clone())
    );
    assert_eq!(
        ids(&sqlite["campaigns b-2 draft"]),
        [2, 4].map(|i| campaign_ids[i].clone())
    );
    assert_eq!(
        sqlite["campaigns none"],
        json!([{"items": [], "next_cursor": null}])
    );
    let first = &all[0]["items"][0];
    assert_eq!(first["budget"], json!({"amount": "1000.50", "currency": "USD"}));
    assert_eq!(first["starts_at"], "2026-12-01T10:00:00.500Z");
    assert_eq!(all[1]["items"][0]["starts_at"], "2026-12-01T10:00:02.500002Z");
    assert!(all[0]["items"][1]["starts_at"].is_null());
    assert_eq!(names(&sqlite["partners q ALIC"]), ["Alice Doe", "ALICIA Keys"]);
    assert_eq!(names(&sqlite["partners q ÉLO"]), ["Élodie Martin"]);
    assert_eq!(names(&sqlite["partners q literal %_"]), ["Bob 50%_off"]);
    assert_eq!(names(&sqlite["partners q nothing"]), Vec::<String>::new());
    assert_eq!(
        names(&sqlite["partners affiliates"]),
        ["Élodie Martin", "Bob 50%_off"]
    );
    assert_eq!(names(&sqlite["partners suspended affiliates"]), ["Élodie Martin"]);
    let alice = &sqlite["partner Alice Doe"];
    assert_eq!(
        alice[1].as_array().unwrap().len(),
        2,
        "campaigns 0 and 4 list her"
    );
    assert_eq!(alice[1][0]["id"], campaign_ids[0].as_str());

    // ...and Postgres answers exactly the same.
    assert_eq!(postgres, sqlite);
}

async fn a_projector_stopped_gracefully_gives_its_lease_up(test: TestDb) {
    let db = &test.db;
    let (projections, projectors) =
        Projections::new(db, &LogWaker::spawn(db), &settings(), aggregates::upcasters::all);
    let tasks: Vec<_> = projectors
        .into_iter()
        .map(projections::Projector::spawn)
        .collect();
    let key = store::Lease::key("projector", "campaigns");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !store::Lease::is_held(db, &key).await.unwrap() {
        assert!(tokio::time::Instant::now() < deadline, "the projector never led");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        projections
            .get("campaigns")
            .unwrap()
            .status()
            .await
            .unwrap()
            .state,
        ProjectorState::Running
    );

    for task in tasks {
        task.shutdown().await;
    }

    // A restarted process need not wait for the lease to expire.
    assert!(!store::Lease::is_held(db, &key).await.unwrap());
    assert_eq!(
        Process::handles(db).status("campaigns").await.state,
        ProjectorState::Stopped
    );
}
