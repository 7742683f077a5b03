//! Relay throughput against a raw `pulsar` producer, in the same run, on the same test
//! broker (`pulsar-test-broker`, in process) and over the same events.
//!
//! - raw: the events' payloads, encoded beforehand, sent by one producer with the same
//!   options (no batching, waiting when the queue is full) and the same window of sends in
//!   flight (1000); the clock runs from connecting to the last receipt.
//! - relay: the relay with its default configuration, over the same events in the log; the
//!   clock runs from its start (lock, checkpoint, connection included) until its
//!   checkpoint reaches the last event.
//!
//! It also measures how fast the relay's reader task alone reads and encodes the log: the
//! relay's ceiling on this machine. The broker runs in the same process and Postgres on the
//! same machine, so on a small machine the relay's reading competes with the broker for CPU.
//!
//! Each is run several times, alternating, on fresh topics; the best run of each is compared.

use crate::db::BenchDb;
use crate::stats::Row;
use bus::message::encode;
use bus::{PulsarSettings, PulsarTransport, Relay, RelayConfig};
use futures::stream::{FuturesOrdered, StreamExt};
use pulsar::producer::{Message, ProducerOptions};
use pulsar::{Pulsar, TokioExecutor};
use pulsar_test_broker::TestBroker;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use store::LogCursor;

/// Sends in flight, for the raw producer (the relay's own default is the same).
const WINDOW: usize = 1000;

/// `events` campaign events, five per campaign, in one transaction.
async fn fill_log(pool: &PgPool, events: i64) -> anyhow::Result<()> {
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

/// The log's events as the raw producer sends them: encoded as the relay encodes them
/// (stored payloads read through the upcasters), with the same keys and properties.
async fn payloads(database: &store::Database, events: i64) -> anyhow::Result<Vec<Message>> {
    let all = database.read_after(LogCursor::START, events + 1).await?;
    let upcasters = aggregates::upcasters::all();
    all.iter()
        .map(|event| {
            let message = encode(event, &upcasters)?;
            Ok(Message {
                payload: message.payload,
                properties: message
                    .properties
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect(),
                partition_key: Some(message.key),
                event_time: u64::try_from(message.event_time.timestamp_millis()).ok(),
                ..Message::default()
            })
        })
        .collect()
}

/// Reading and encoding the whole log alone, as the relay's reader task does; events per second.
async fn read_and_encode(database: &store::Database) -> anyhow::Result<f64> {
    let upcasters = aggregates::upcasters::all();
    let started = Instant::now();
    let mut cursor = LogCursor::START;
    let mut read = 0;
    loop {
        let batch = database
            .read_after(cursor, RelayConfig::default().fetch_size)
            .await?;
        let Some(last) = batch.last() else { break };
        cursor = last.cursor;
        for event in &batch {
            encode(event, &upcasters)?;
        }
        read += batch.len();
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}

/// One producer sending `payloads` with `WINDOW` sends in flight; events per second,
/// from connecting to the last receipt.
async fn raw_producer(broker: &TestBroker, payloads: &[Message], round: usize) -> anyhow::Result<f64> {
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

/// The relay, default configuration, over the whole log; events per second, from its
/// start until its checkpoint reaches `head`.
async fn relay(pool: &PgPool, broker: &TestBroker, head: i64, round: usize) -> anyhow::Result<f64> {
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
            relay.abort().await;
            anyhow::bail!("the relay did not finish in 5 minutes");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = head as f64 / started.elapsed().as_secs_f64();
    relay.shutdown().await;
    Ok(rate)
}

async fn measure(db: &BenchDb, events: i64, rounds: usize) -> anyhow::Result<Vec<Row>> {
    fill_log(&db.pool, events).await?;
    let database = store::Database::from(db.pool.clone());
    let head = database.head_position().await?;
    let payloads = payloads(&database, events).await?;
    anyhow::ensure!(
        payloads.len() as i64 == events,
        "read {} of {events} events",
        payloads.len()
    );
    let bytes: usize = payloads.iter().map(|m| m.payload.len()).sum();
    let reading = read_and_encode(&database).await?;

    let broker = TestBroker::start().await;
    let mut raw_best = f64::MIN;
    let mut relay_best = f64::MIN;
    for round in 0..rounds {
        let raw = raw_producer(&broker, &payloads, round).await?;
        let relay = relay(&db.pool, &broker, head, round).await?;
        eprintln!("relay: round {round}: raw producer {raw:.0} events/s, relay {relay:.0} events/s");
        raw_best = raw_best.max(raw);
        relay_best = relay_best.max(relay);
    }

    eprintln!(
        "relay: {events} events, {} bytes per payload on average; best of {rounds} alternating run(s) each",
        bytes / payloads.len().max(1)
    );
    Ok(vec![
        Row {
            figure: format!("relay to the broker, events/s ({events} events)"),
            ours: format!("{relay_best:.0}"),
            baseline: format!("{raw_best:.0} (raw `pulsar` producer, same payloads, same broker)"),
            ratio: format!("{:.2}x", relay_best / raw_best),
            target: ">= 0.8x".into(),
        },
        Row {
            figure: format!("relay: reading + encoding alone (its reader task), events/s ({events} events)"),
            ours: format!("{reading:.0}"),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
    ])
}

pub async fn run(quick: bool) -> anyhow::Result<Vec<Row>> {
    let (events, rounds) = if quick { (500, 1) } else { (50_000, 3) };
    let db = BenchDb::create().await?;
    let rows = measure(&db, events, rounds).await;
    db.drop().await?;
    rows
}
