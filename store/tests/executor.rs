//! The command executor against a real database (the run's backend, see
//! `test_support::backend`), with two executors over one database standing for two
//! processes, each with its own aggregate cache.

use aggregates::campaign::{Campaign, CampaignCommand, CampaignError, MoneyInput, ParticipantInput};
use store::Database;
use store::{AlpesEventStore, CommandError, CommandExecutor, CommandOptions, EventLog};
use test_support::TestDb;
use uuid::Uuid;

/// A fresh, migrated database for the test.
struct Db(TestDb);

impl Db {
    async fn new() -> Self {
        Db(TestDb::new().await)
    }

    /// An executor as one process would have it (its own cache).
    fn executor(&self) -> CommandExecutor<Campaign> {
        CommandExecutor::new(
            AlpesEventStore::new(EventLog::new(self.0.db.clone()), vec![], 100),
            (),
        )
    }
}

fn create() -> CampaignCommand {
    CampaignCommand::CreateCampaign {
        name: "Launch".into(),
        brand_id: "brand-1".into(),
        budget: MoneyInput {
            amount: "100".into(),
            currency: "USD".into(),
        },
        starts_at: None,
        ends_at: None,
        participants: vec![ParticipantInput {
            partner_id: "p-1".into(),
            kind: "influencer".into(),
            name: "Alice".into(),
            profile: String::new(),
        }],
    }
}

/// The stream's events, counted in the table (not through the log readers, whose
/// Postgres horizon waits for other tests' transactions).
async fn count_events(db: &Database, id: &str) -> i64 {
    const SQL: &str = "SELECT count(*) FROM events WHERE aggregate_id = $1";
    test_support::scalar(db, SQL, &[id]).await
}

#[tokio::test]
async fn a_creation_assumed_new_on_an_existing_id_is_refused_after_reading_the_stream() {
    let db = Db::new().await;
    let (first, second) = (db.executor(), db.executor());
    let id = Uuid::now_v7().to_string();
    let new = CommandOptions {
        new_aggregate: true,
        ..CommandOptions::default()
    };
    first.execute(&id, create(), new.clone()).await.unwrap();

    let again = second.execute(&id, create(), new).await;

    assert!(
        matches!(again, Err(CommandError::Domain(CampaignError::AlreadyExists))),
        "{again:?}"
    );
    assert_eq!(count_events(&db.0.db, &id).await, 2);
}

#[tokio::test]
async fn a_stale_cache_in_another_process_costs_a_retry_not_a_lost_update() {
    let db = Db::new().await;
    let (a, b) = (db.executor(), db.executor());
    let id = Uuid::now_v7().to_string();
    a.execute(&id, create(), CommandOptions::default()).await.unwrap();
    // B caches the campaign at version 3 (active)...
    let activated = b
        .execute(&id, CampaignCommand::Activate, CommandOptions::default())
        .await
        .unwrap();
    assert_eq!(activated.version, 3);
    // ...then A pauses it: B's copy is stale.
    a.execute(&id, CampaignCommand::Pause, CommandOptions::default())
        .await
        .unwrap();

    // From B's stale copy (active), Resume looks invalid; from the stream (paused) it
    // is valid: B must decide on the stream.
    let resumed = b
        .execute(&id, CampaignCommand::Resume, CommandOptions::default())
        .await
        .unwrap();
    assert_eq!(resumed.version, 5);
    // And from B's copy (now current) a Pause appends at the right sequence.
    let paused = b
        .execute(&id, CampaignCommand::Pause, CommandOptions::default())
        .await
        .unwrap();
    assert_eq!(paused.version, 6);
    assert_eq!(count_events(&db.0.db, &id).await, 6);
}

#[tokio::test]
async fn if_match_against_a_stale_cache_is_checked_on_the_stream() {
    let db = Db::new().await;
    let (a, b) = (db.executor(), db.executor());
    let id = Uuid::now_v7().to_string();
    b.execute(&id, create(), CommandOptions::default()).await.unwrap(); // B caches version 2
    a.execute(&id, CampaignCommand::Activate, CommandOptions::default())
        .await
        .unwrap(); // now 3

    let current = CommandOptions {
        expected_version: Some(3),
        ..CommandOptions::default()
    };
    let paused = b.execute(&id, CampaignCommand::Pause, current).await.unwrap();
    assert_eq!(paused.version, 4);

    let stale = CommandOptions {
        expected_version: Some(3),
        ..CommandOptions::default()
    };
    let refused = a.execute(&id, CampaignCommand::Resume, stale).await;
    assert!(
        matches!(
            refused,
            Err(CommandError::VersionMismatch {
                expected: 3,
                actual: 4
            })
        ),
        "{refused:?}"
    );
}
