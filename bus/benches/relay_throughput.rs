//! Relay throughput against a raw `pulsar` producer, in the same run, on the same test
//! broker: `cargo bench -p bus --bench relay_throughput` (needs the local Postgres;
//! `BENCH_EVENTS` sets the number of events, default 50000).
//!
//! - raw: the events' payloads, encoded beforehand, sent by one producer with the same
//!   options (no batching, waiting when the queue is full) and the same window of sends in
//!   flight (1000); the clock runs from connecting to the last receipt.
//! - relay: the relay with its default configuration, over the same events in the log; the
//!   clock runs from its start (lock, checkpoint, connection included) until its
//!   checkpoint reaches the last event.
//!
//! It also prints how fast the relay's reader task alone reads and encodes the log: the
//! relay's ceiling on this machine. The broker runs in the same process and Postgres on the
//! same machine, so on a small machine the relay's reading competes with the broker for CPU.
//!
//! Each is run three times, alternating, on fresh topics; the best run of each is compared.

use bus::message::encode;
use bus::{PulsarSettings, PulsarTransport, Relay, RelayConfig};
use futures::stream::{FuturesOrdered, StreamExt};
use pulsar::producer::{Message, ProducerOptions};
use pulsar::{Pulsar, TokioExecutor};
use pulsar_test_broker::TestBroker;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use store::reader::{self, LogCursor};
use uuid::Uuid;

const WINDOW: usize = 1000;

fn database_server() -> String {
    std::env::var("TEST_DATABASE_SERVER").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("benchmark failed: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let events: i64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50_000);
    let name = format!("alpes_bench_{}", Uuid::new_v4().simple());
    let admin = PgPool::connect(&format!("{}/postgres", database_server())).await?;
    sqlx::query(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&admin)
        .await?;
    let result = bench(&format!("{}/{name}", database_server()), events).await;
    sqlx::query(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
        .execute(&admin)
        .await?;
    result
}

async fn bench(url: &str, events: i64) -> Result<(), Box<dyn std::error::Error>> {
    let pool = PgPool::connect(url).await?;
    store::MIGRATOR.run(&pool).await?;
    fill_log(&pool, events).await?;
    let database = store::Database::from(pool.clone());
    let head = reader::head_position(&database).await?;
    let all = reader::read_after(&database, LogCursor::START, events + 1).await?;
    // Stored payloads are read as the relay reads them: through the upcasters.
    let upcasters = aggregates::upcasters::all();
    let payloads: Vec<Message> = all
        .iter()
        .map(|event| {
            let message = encode(event, &upcasters).expect("benchmark events map");
            Message {
                payload: message.payload,
                properties: message
                    .properties
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect(),
                partition_key: Some(message.key),
                event_time: u64::try_from(message.event_time.timestamp_millis()).ok(),
                ..Message::default()
            }
        })
        .collect();
    let bytes: usize = payloads.iter().map(|m| m.payload.len()).sum();
    println!(
        "{events} events in the log, {} bytes per payload on average",
        bytes / payloads.len().max(1)
    );

    let started = Instant::now();
    let mut cursor = LogCursor::START;
    let mut read = 0;
    loop {
        let batch = reader::read_after(&database, cursor, RelayConfig::default().fetch_size).await?;
        let Some(last) = batch.last() else { break };
        cursor = last.cursor;
        for event in &batch {
            encode(event, &upcasters)?;
        }
        read += batch.len();
    }
    println!(
        "reading and encoding alone (the relay's reader task): {:.0} events/s",
        read as f64 / started.elapsed().as_secs_f64()
    );

    let broker = TestBroker::start().await;
    let mut raw_best = f64::MIN;
    let mut relay_best = f64::MIN;
    for round in 0..3 {
        let raw = raw_producer(&broker, &payloads, round).await?;
        let relay = relay(&pool, &broker, head, round).await?;
        println!("round {round}: raw producer {raw:>9.0} events/s   relay {relay:>9.0} events/s");
        raw_best = raw_best.max(raw);
        relay_best = relay_best.max(relay);
    }
    println!(
        "best: raw producer {raw_best:.0} events/s, relay {relay_best:.0} events/s, ratio {:.2}",
        relay_best / raw_best
    );
    Ok(())
}

/// `events` campaign events, five per campaign, in one transaction.
async fn fill_log(pool: &PgPool, events: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
           SELECT 'Campaign', 'campaign-' || (n / 5), n % 5 + 1,
                  (ARRAY['CampaignCreated','ParticipantAdded','CampaignActivated','CampaignPaused','CampaignResumed'])[n % 5 + 1],
                  '1.0',
                  (ARRAY[
                    '{"CampaignCreated":{"name":"Summer launch","brand_id":"brand-1","budget":{"amount":"10000.00","currency":"USD"},"schedule":null}}',
                    '{"ParticipantAdded":{"participant":{"partner_id":"p-98765","kind":"influencer","name":"Alice Doe","profile":"Fashion influencer with 200k followers"}}}',
                    '"CampaignActivated"', '"CampaignPaused"', '"CampaignResumed"'])[n % 5 + 1]::json,
                  '{}'
           FROM generate_series(0, $1 - 1) AS n"#,
    )
    .bind(events)
    .execute(pool)
    .await?;
    Ok(())
}

async fn raw_producer(
    broker: &TestBroker,
    payloads: &[Message],
    round: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let client = Pulsar::builder(broker.url(), TokioExecutor).build().await?;
    let mut producer = client
        .producer()
        .with_topic(format!("bench-raw-{round}"))
        .with_options(ProducerOptions {
            block_queue_if_full: true,
            ..ProducerOptions::default()
        })
        .build()
        .await?;
    let mut in_flight = FuturesOrdered::new();
    for message in payloads {
        if in_flight.len() >= WINDOW {
            if let Some(receipt) = in_flight.next().await {
                receipt?;
            }
        }
        in_flight.push_back(producer.send_non_blocking(message.clone()).await?);
    }
    while let Some(receipt) = in_flight.next().await {
        receipt?;
    }
    Ok(payloads.len() as f64 / started.elapsed().as_secs_f64())
}

async fn relay(
    pool: &PgPool,
    broker: &TestBroker,
    head: i64,
    round: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let settings = PulsarSettings {
        campaign_topic: format!("bench-relay-campaigns-{round}"),
        partner_topic: format!("bench-relay-partners-{round}"),
        ..PulsarSettings::new(broker.url())
    };
    let config = RelayConfig {
        name: format!("bench-{round}"),
        ..RelayConfig::default()
    };
    let started = Instant::now();
    let relay = Relay::new(pool.clone(), PulsarTransport::new(settings), config).spawn();
    let handle = relay.handle();
    while handle.progress().checkpoint.is_none_or(|c| c.position < head) {
        if started.elapsed() > Duration::from_secs(300) {
            return Err("the relay did not finish in 5 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = head as f64 / started.elapsed().as_secs_f64();
    relay.shutdown().await;
    Ok(rate)
}
