//! Commit-to-tracking latency: `cargo bench -p tracking --bench commit_to_tracking` (needs
//! the local Postgres; `BENCH_COMMANDS` and `BENCH_RATE` set how many commands are sent and
//! how many per second, default 1000 at 200/s).
//!
//! Commands run against the store at a steady rate while the relay publishes to the test
//! broker and the tracking service consumes. Each event's latency is the time from its
//! commit (`events.recorded_at`) to the start of the transaction that applies it in the
//! tracking view (`tracking.applied_events.applied_at`): both read from the Postgres
//! clock, so no two clocks are compared.

use aggregates::campaign::{Campaign, CampaignCommand, MoneyInput, ParticipantInput};
use bus::{PulsarSettings, PulsarTransport, Relay, RelayConfig};
use pulsar_test_broker::TestBroker;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use store::{AlpesEventStore, CommandExecutor, CommandOptions, Database, EventLog};
use tracking::{TrackingConfig, TrackingService};
use uuid::Uuid;

fn database_server() -> String {
    std::env::var("TEST_DATABASE_SERVER").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("benchmark failed: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let name = format!("alpes_bench_{}", Uuid::new_v4().simple());
    let admin = PgPool::connect(&format!("{}/postgres", database_server())).await?;
    sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&admin)
        .await?;
    let result = bench(&format!("{}/{name}", database_server())).await;
    sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&admin)
        .await?;
    result
}

async fn bench(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let commands = setting("BENCH_COMMANDS", 1000);
    let rate = setting("BENCH_RATE", 200).max(1);
    let pool = PgPool::connect(url).await?;
    let database = Database::from(pool.clone());
    database.migrate().await?;
    tracking::migrate(&database).await?;
    let broker = TestBroker::start().await;
    let relay = Relay::new(
        pool.clone(),
        PulsarTransport::new(PulsarSettings::new(broker.url())),
        RelayConfig::default(),
    )
    .spawn();
    let tracking = TrackingService::start(pool.clone(), TrackingConfig::new(broker.url()));
    let executor = CommandExecutor::<Campaign>::new(
        AlpesEventStore::new(EventLog::new(pool.clone()), vec![], 1000),
        (),
    );

    // Each command creates a campaign with one participant: two events, one commit.
    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    for _ in 0..commands {
        ticker.tick().await;
        let command = CampaignCommand::CreateCampaign {
            name: "Summer launch".into(),
            brand_id: "brand-1".into(),
            budget: MoneyInput {
                amount: "10000".into(),
                currency: "USD".into(),
            },
            starts_at: None,
            ends_at: None,
            participants: vec![ParticipantInput {
                partner_id: "p-98765".into(),
                kind: "influencer".into(),
                name: "Alice Doe".into(),
                profile: String::new(),
            }],
        };
        executor
            .execute(&Uuid::now_v7().to_string(), command, CommandOptions::default())
            .await?;
    }
    let sent_in = started.elapsed();
    let expected = i64::try_from(commands * 2)?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM tracking.applied_events")
            .fetch_one(&pool)
            .await?;
        if applied >= expected {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {applied} of {expected} events reached tracking").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut latencies: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM (a.applied_at - e.recorded_at))::float8 * 1000
         FROM events e JOIN tracking.applied_events a USING (event_id)",
    )
    .fetch_all(&pool)
    .await?;
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies.get(index).copied().unwrap_or(f64::NAN)
    };
    println!(
        "{} events from {commands} commands at {:.0}/s: commit-to-tracking p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        commands as f64 / sent_in.as_secs_f64(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
    relay.shutdown().await;
    tracking.shutdown().await;
    Ok(())
}
