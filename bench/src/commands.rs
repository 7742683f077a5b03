//! Command throughput: `alpes serve` over HTTP against, in the same run and at the
//! same concurrency, (a) raw single-row INSERT transactions of the same event rows
//! through the same driver and (b) the stock cqrs-es `CqrsFramework::execute` over
//! `PostgresEventRepository`, in process (no HTTP at all). Also the server's peak RSS.

use crate::db::BenchDb;
use crate::server::Server;
use crate::stats::{median, Row};
use aggregates::campaign::{Campaign, CampaignCommand, MoneyInput, ParticipantInput};
use cqrs_es::persist::PersistedEventStore;
use cqrs_es::CqrsFramework;
use postgres_es::PostgresEventRepository;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What one client does per iteration: create a campaign with a participant, then
/// add a second participant. Two commands, three events.
const COMMANDS_PER_ITERATION: u64 = 2;

fn participant_json(n: u64) -> Value {
    json!({"partner_id": format!("p-{n}"), "kind": "influencer", "name": "Alice Doe", "profile": "200k followers"})
}

/// CPU time the whole machine spent working so far (user, nice, system, irq, softirq
/// from `/proc/stat`; not idle, I/O wait or time stolen by the hypervisor), in seconds.
/// Per command it is what throughput is made of when the cores are saturated, and it
/// moves far less than throughput when the VM's neighbours are busy.
fn busy_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy: f64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| ticks.get(i)).sum();
    // USER_HZ is 100 on Linux.
    busy / 100.0
}

/// A measured rate, and the machine's CPU per command while it ran.
struct Rate {
    per_second: f64,
    cpu_per_command: Duration,
}

impl Rate {
    fn describe(&self) -> String {
        format!(
            "{:.0}/s ({} of machine CPU per command)",
            self.per_second,
            crate::stats::millis(self.cpu_per_command)
        )
    }
}

/// Runs `clients` loops of `iteration` for `duration`; commands per second.
async fn drive<F, Fut>(clients: usize, duration: Duration, iteration: F) -> anyhow::Result<Rate>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let iteration = Arc::new(iteration);
    let cpu_before = busy_cpu_seconds();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let iteration = iteration.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                iteration(client as u64 * 1_000_000 + done).await?;
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut iterations = 0;
    for task in tasks {
        iterations += task.await??;
    }
    let commands = (iterations * COMMANDS_PER_ITERATION).max(1) as f64;
    Ok(Rate {
        per_second: commands / started.elapsed().as_secs_f64(),
        cpu_per_command: Duration::from_secs_f64((busy_cpu_seconds() - cpu_before).max(0.0) / commands),
    })
}

async fn ours(server: &Server, clients: usize, duration: Duration) -> anyhow::Result<Rate> {
    let (client, base) = (server.client.clone(), server.base.clone());
    drive(clients, duration, move |n| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let body = json!({
                "name": "Bench", "brand_id": format!("brand-{}", n % 50),
                "budget": {"amount": "10000.00", "currency": "USD"}, "participants": [participant_json(0)]
            });
            let created: Value = client
                .post(format!("{base}/campaigns"))
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let id = created["aggregate_id"].as_str().unwrap_or_default();
            client
                .post(format!("{base}/campaigns/{id}/participants"))
                .json(&participant_json(1))
                .send()
                .await?
                .error_for_status()?;
            Ok(())
        }
    })
    .await
}

const RAW_INSERT: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, event_id)
     VALUES ('Campaign', $1, $2, $3, '1.0', $4::json, '{}', $5)";

async fn raw(database_url: &str, clients: usize, duration: Duration) -> anyhow::Result<Rate> {
    let pool = PgPoolOptions::new()
        .max_connections(clients as u32)
        // The ceiling: no ping round trip before each transaction (sqlx's default),
        // as `alpes serve` does not ping recently used connections either.
        .test_before_acquire(false)
        .connect(database_url)
        .await?;
    let created = json!({"CampaignCreated": {"name": "Bench", "brand_id": "brand-1",
        "budget": {"amount": "10000.00", "currency": "USD"}, "schedule": null}})
    .to_string();
    let added = |n: u64| json!({"ParticipantAdded": participant_json(n)}).to_string();
    let rows = Arc::new((created, added(0), added(1)));
    drive(clients, duration, move |_| {
        let (pool, rows) = (pool.clone(), rows.clone());
        async move {
            let id = Uuid::now_v7().to_string();
            // The create command's two events, then the add command's one: one
            // transaction per command, one INSERT per row.
            let mut tx = pool.begin().await?;
            for (sequence, event_type, payload) in
                [(1, "CampaignCreated", &rows.0), (2, "ParticipantAdded", &rows.1)]
            {
                sqlx::query(RAW_INSERT)
                    .bind(&id)
                    .bind(sequence as i64)
                    .bind(event_type)
                    .bind(payload)
                    .bind(Uuid::now_v7())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            let mut tx = pool.begin().await?;
            sqlx::query(RAW_INSERT)
                .bind(&id)
                .bind(3i64)
                .bind("ParticipantAdded")
                .bind(&rows.2)
                .bind(Uuid::now_v7())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await
}

async fn stock(database_url: &str, clients: usize, duration: Duration) -> anyhow::Result<Rate> {
    // sqlx's defaults, as postgres-es's own `default_postgress_pool`, with a
    // connection per client (it has 10).
    let pool = PgPoolOptions::new()
        .max_connections(clients as u32)
        .connect(database_url)
        .await?;
    let store = PersistedEventStore::new_event_store(PostgresEventRepository::new(pool));
    let cqrs = Arc::new(CqrsFramework::<Campaign, _>::new(store, vec![], ()));
    let participant = |n: u64| ParticipantInput {
        partner_id: format!("p-{n}"),
        kind: "influencer".into(),
        name: "Alice Doe".into(),
        profile: "200k followers".into(),
    };
    drive(clients, duration, move |n| {
        let cqrs = cqrs.clone();
        let (first, second) = (participant(0), participant(1));
        async move {
            let id = Uuid::now_v7().to_string();
            let create = CampaignCommand::CreateCampaign {
                name: "Bench".into(),
                brand_id: format!("brand-{}", n % 50),
                budget: MoneyInput {
                    amount: "10000.00".into(),
                    currency: "USD".into(),
                },
                starts_at: None,
                ends_at: None,
                participants: vec![first],
            };
            cqrs.execute(&id, create)
                .await
                .map_err(|e| anyhow::anyhow!("stock create: {e}"))?;
            cqrs.execute(&id, CampaignCommand::AddParticipant { participant: second })
                .await
                .map_err(|e| anyhow::anyhow!("stock add: {e}"))?;
            Ok(())
        }
    })
    .await
}

/// Rounds per concurrency level. Each round measures ours, raw and stock one after
/// the other, so a noisy moment of the machine (this VM shows up to a third of its
/// CPU stolen) hurts all three alike; the table gives medians over the rounds, and
/// the median of the rounds' own ratios.
const ROUNDS: usize = 3;

pub async fn run(quick: bool, levels: &[usize], seconds: Option<u64>) -> anyhow::Result<Vec<Row>> {
    let duration = Duration::from_secs(seconds.unwrap_or(if quick { 1 } else { 4 }));
    let rounds = if quick { 1 } else { ROUNDS };
    let served = BenchDb::create().await?;
    // Raw INSERTs write our event rows into our table; stock cqrs-es runs on the
    // table stock postgres-es creates.
    let raw_db = BenchDb::create().await?;
    let stock_db = BenchDb::create_stock().await?;
    let server = Server::start(&served.url).await?;
    let mut rows = Vec::new();
    for &clients in levels {
        let (mut ours_rates, mut raw_rates, mut stock_rates) = (Vec::new(), Vec::new(), Vec::new());
        let (mut vs_raw, mut vs_stock) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            let ours = ours(&server, clients, duration).await?;
            let raw = raw(&raw_db.url, clients, duration).await?;
            let stock = stock(&stock_db.url, clients, duration).await?;
            eprintln!(
                "commands, {clients} clients, round {round}/{rounds}: ours {}, raw {}, stock {}",
                ours.describe(),
                raw.describe(),
                stock.describe()
            );
            let (ours, raw, stock) = (ours.per_second, raw.per_second, stock.per_second);
            ours_rates.push(ours);
            raw_rates.push(raw);
            stock_rates.push(stock);
            vs_raw.push(ours / raw);
            vs_stock.push(ours / stock);
        }
        let (ours, raw, stock) = (median(ours_rates), median(raw_rates), median(stock_rates));
        rows.push(Row {
            figure: format!("commands/s over HTTP (create + add participant), {clients} clients"),
            ours: format!("{ours:.0}"),
            baseline: format!("{raw:.0} (raw single-row INSERT transactions)"),
            ratio: format!("{:.2}x", median(vs_raw)),
            target: if clients == 32 {
                ">= 0.6x".into()
            } else {
                "-".into()
            },
        });
        rows.push(Row {
            figure: format!("commands/s over HTTP, {clients} clients, vs stock cqrs-es"),
            ours: format!("{ours:.0}"),
            baseline: format!("{stock:.0} (CqrsFramework::execute + PostgresEventRepository, in process)"),
            ratio: format!("{:.2}x", median(vs_stock)),
            target: ">= 1.5x".into(),
        });
    }
    let rss = server.peak_rss_mib()?;
    let most = levels.iter().max().copied().unwrap_or_default();
    rows.push(Row {
        figure: format!("peak RSS of alpes serve under the {most}-client load"),
        ours: format!("{rss:.1} MiB"),
        baseline: "-".into(),
        ratio: "-".into(),
        target: "<= 150 MiB".into(),
    });
    drop(server);
    served.drop().await?;
    raw_db.drop().await?;
    stock_db.drop().await?;
    Ok(rows)
}
