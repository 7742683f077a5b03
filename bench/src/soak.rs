//! The fault soak: the system as deployed, under a steady mixed load, while its
//! processes are `kill -9`ed, Postgres restarts and the broker goes away; then the
//! invariants a client relies on are checked and printed.
//!
//! ```text
//! cargo run --release -p bench -- soak                  # 10 minutes, every fault several times
//! cargo run --release -p bench -- soak --minutes 30
//! cargo run --release -p bench -- soak --quick          # ~75 s, every fault once (CI)
//! cargo run --release -p bench -- soak --embedded       # one `alpes serve` on SQLite
//! cargo run --release -p bench -- soak --no-postgres-restart   # on a shared Postgres
//! ```
//!
//! On Postgres: a fresh database, the Pulsar test broker in this process, and three
//! child processes (`alpes serve --no-relay`, `alpes relay`, `alpes tracking`), the
//! `alpes` binary beside this one. Embedded: one `alpes serve` on a SQLite file in a
//! temporary directory, with its in-process bus and tracking service. Either way every
//! process is started (and restarted) with the run's random `ALPES_JWT_SECRET`, and
//! every request carries the admin token that binary issued with it.
//!
//! Exits non-zero when an invariant fails: an acknowledged event lost, an event not
//! delivered to tracking or applied twice, a read model at the wrong version, a 5xx
//! outside an outage window, a connection error outside one, a crash, a fault after which
//! service never recovered.
//!
//! Postgres restarts need root (`pg_ctlcluster`) and disturb everything else using that
//! server: `--no-postgres-restart` leaves them out.
//!
//! # Layout
//! - `process`: the child processes, their kills and restarts, their peak RSS;
//! - `load`: the clients and what they were told;
//! - `check`: the invariants, read from the database.

mod check;
mod load;
mod process;

use crate::credentials::Credentials;
use crate::db::BenchDb;
use crate::server::{alpes_binary, free_port};
use check::{Findings, Store};
use load::{Answer, Client, Endpoints, LoadReport, Outcome, Target};
use process::{Alpes, Service};
use pulsar_test_broker::TestBroker;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `bench soak` was asked.
pub struct Options {
    pub minutes: Option<f64>,
    pub quick: bool,
    pub embedded: bool,
    pub postgres_restart: bool,
    pub clients: usize,
}

/// The faults the schedule cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    KillServe,
    KillTracking,
    KillRelay,
    BrokerDown,
    RestartPostgres,
}

impl Fault {
    fn describe(self) -> &'static str {
        match self {
            Fault::KillServe => "kill -9 alpes serve",
            Fault::KillTracking => "kill -9 alpes tracking",
            Fault::KillRelay => "kill -9 alpes relay",
            Fault::BrokerDown => "broker down",
            Fault::RestartPostgres => "restart Postgres",
        }
    }
}

/// A fault as it happened.
struct Injected {
    fault: Fault,
    /// When it struck.
    started: Instant,
    /// When the failed part was back: process spawned again, broker listening,
    /// Postgres accepting connections.
    back: Instant,
    /// Which requests it may fail, and until when (`back` plus a grace period).
    window: Option<(Vec<Target>, Instant)>,
}

/// How long a killed process stays down before it is started again, as a supervisor's
/// restart delay: long enough for clients to meet a refused connection.
const DOWN_TIME: Duration = Duration::from_secs(1);
/// After Postgres is back, requests started within this much may still fail: they may
/// have waited for a connection (the pools' acquire timeout is 5 s) or got one that died.
const POSTGRES_GRACE: Duration = Duration::from_secs(5);
/// How long the checks wait for deliveries and views to catch up after the load.
const CATCH_UP: Duration = Duration::from_secs(120);
const DEAD_LETTER_TOPIC: &str = "persistent://public/default/tracking-dead-letters";

/// The system under test, however it is deployed.
struct System {
    services: Vec<Service>,
    broker: Option<TestBroker>,
    endpoints: Endpoints,
    alpes: Arc<Alpes>,
    /// With the admin token: readiness checks.
    http: reqwest::Client,
}

impl System {
    fn service(&mut self, name: &str) -> &mut Service {
        self.services
            .iter_mut()
            .find(|s| s.name == name)
            .expect("a service of this deployment")
    }

    /// Looks after the processes until `until`: samples their memory each second and
    /// starts again any that died on its own.
    async fn supervise(&mut self, until: Instant) -> anyhow::Result<()> {
        loop {
            for service in &mut self.services {
                service.sample_rss();
                if service.exited_on_its_own() {
                    service.start(&self.alpes, &self.http).await?;
                }
            }
            if Instant::now() >= until {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(1).min(until - Instant::now())).await;
        }
    }

    async fn inject(
        &mut self,
        fault: Fault,
        broker_down: Duration,
        embedded: bool,
    ) -> anyhow::Result<Injected> {
        let started = Instant::now();
        eprintln!("soak: {}", fault.describe());
        let (back, window) = match fault {
            Fault::KillServe | Fault::KillTracking | Fault::KillRelay => {
                let (name, targets) = match fault {
                    Fault::KillServe if embedded => ("alpes serve", vec![Target::Api, Target::Tracking]),
                    Fault::KillServe => ("alpes serve", vec![Target::Api]),
                    Fault::KillTracking => ("alpes tracking", vec![Target::Tracking]),
                    _ => ("alpes relay", vec![]),
                };
                self.service(name).kill();
                tokio::time::sleep(DOWN_TIME).await;
                let back = Instant::now();
                let (alpes, http) = (self.alpes.clone(), self.http.clone());
                self.service(name).start(&alpes, &http).await?;
                (back, Some((targets, Instant::now())))
            }
            Fault::BrokerDown => {
                let broker = self.broker.as_ref().expect("a broker on Postgres");
                broker.set_down(true).await;
                tokio::time::sleep(broker_down).await;
                broker.set_down(false).await;
                (Instant::now(), None)
            }
            Fault::RestartPostgres => {
                restart_postgres().await?;
                let back = Instant::now();
                (
                    back,
                    Some((vec![Target::Api, Target::Tracking], back + POSTGRES_GRACE)),
                )
            }
        };
        Ok(Injected {
            fault,
            started,
            back,
            window,
        })
    }
}

/// `pg_ctlcluster VERSION main restart` (root, the cluster of `/etc/postgresql`), then
/// waits until it accepts connections.
async fn restart_postgres() -> anyhow::Result<()> {
    let version = std::fs::read_dir("/etc/postgresql")?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .max()
        .ok_or_else(|| anyhow::anyhow!("no cluster under /etc/postgresql"))?;
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "restart"])
            .status()
    })
    .await??;
    anyhow::ensure!(status.success(), "pg_ctlcluster restart failed: {status}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let admin = format!("{}/postgres", crate::db::server());
    while sqlx::PgPool::connect(&admin).await.map(drop).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "Postgres did not come back in 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// When each fault strikes: after a warm-up, evenly spread, cycling through `kinds`;
/// a quiet tail at the end lets the last recovery be seen.
fn schedule(duration: Duration, quick: bool, kinds: &[Fault]) -> Vec<(Duration, Fault)> {
    let (warm_up, tail, interval) = if quick {
        (Duration::from_secs(5), Duration::from_secs(10), None)
    } else {
        (
            Duration::from_secs(20),
            Duration::from_secs(30),
            Some(Duration::from_secs(40)),
        )
    };
    let span = duration.saturating_sub(warm_up + tail);
    let count = match interval {
        Some(interval) => ((span.as_secs_f64() / interval.as_secs_f64()) as usize).max(kinds.len()),
        // every fault once; at least three, so that a lone kind (embedded) repeats
        None => kinds.len().max(3),
    };
    let step = span / count.max(1) as u32;
    (0..count)
        .map(|i| (warm_up + step * i as u32, kinds[i % kinds.len()]))
        .collect()
}

pub async fn run(options: Options) -> anyhow::Result<()> {
    let duration = match (options.minutes, options.quick) {
        (Some(minutes), _) => Duration::from_secs_f64(minutes * 60.0),
        (None, true) => Duration::from_secs(75),
        (None, false) => Duration::from_secs(600),
    };
    let broker_down = if options.quick {
        Duration::from_secs(5)
    } else {
        Duration::from_secs(30)
    };
    let binary = alpes_binary()?;
    // One secret for the whole run: every process, every restart, every client.
    let credentials = Credentials::issued_by(&binary)?;
    let log_dir = std::env::temp_dir().join(format!("alpes-soak-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir)?;
    eprintln!(
        "soak: {:.0} s, {} clients, {}; process logs in {}",
        duration.as_secs_f64(),
        options.clients,
        if options.embedded {
            "embedded (SQLite, in-process bus)"
        } else {
            "Postgres + test broker"
        },
        log_dir.display()
    );
    let http = load::http_client(&credentials);
    let alpes = Arc::new(Alpes { binary, credentials });

    let (mut system, store, database, kinds) = if options.embedded {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let data_dir = log_dir.join("data");
        let serve = Service::new(
            "alpes serve",
            &["serve"],
            vec![
                ("ALPES_BIND".into(), format!("127.0.0.1:{port}")),
                ("ALPES_DATA_DIR".into(), data_dir.display().to_string()),
            ],
            Some(format!("{base}/ready")),
            &log_dir,
        );
        let system = System {
            services: vec![serve],
            broker: None,
            endpoints: Endpoints {
                api: base.clone(),
                tracking: base,
            },
            alpes: alpes.clone(),
            http,
        };
        (system, None, None, vec![Fault::KillServe])
    } else {
        let database = BenchDb::create().await?;
        let broker = TestBroker::start().await;
        let (api_port, tracking_port) = (free_port()?, free_port()?);
        let (api, tracking) = (
            format!("http://127.0.0.1:{api_port}"),
            format!("http://127.0.0.1:{tracking_port}"),
        );
        let env = |extra: &[(&str, String)]| {
            let mut env = vec![
                ("DATABASE_URL".to_owned(), database.url.clone()),
                ("PULSAR_URL".to_owned(), broker.url()),
            ];
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
            env
        };
        let services = vec![
            Service::new(
                "alpes serve",
                &["serve", "--no-relay"],
                env(&[("ALPES_BIND", format!("127.0.0.1:{api_port}"))]),
                Some(format!("{api}/ready")),
                &log_dir,
            ),
            Service::new(
                "alpes tracking",
                &["tracking"],
                env(&[("ALPES_TRACKING_BIND", format!("127.0.0.1:{tracking_port}"))]),
                Some(format!("{tracking}/tracking/status")),
                &log_dir,
            ),
            Service::new("alpes relay", &["relay"], env(&[]), None, &log_dir),
        ];
        let mut kinds = vec![
            Fault::KillServe,
            Fault::KillTracking,
            Fault::KillRelay,
            Fault::BrokerDown,
        ];
        if options.postgres_restart {
            kinds.push(Fault::RestartPostgres);
        }
        let system = System {
            services,
            broker: Some(broker),
            endpoints: Endpoints { api, tracking },
            alpes: alpes.clone(),
            http,
        };
        let store = Store::Postgres(database.pool.clone());
        (system, Some(store), Some(database), kinds)
    };
    for i in 0..system.services.len() {
        let (alpes, http) = (system.alpes.clone(), system.http.clone());
        system.services[i].start(&alpes, &http).await?;
    }

    // The load, the delivery watcher and the fault schedule, side by side.
    let started = Instant::now();
    let deadline = started + duration;
    let clients: Vec<_> = (0..options.clients)
        .map(|n| {
            let client = Client::new(n, &alpes.credentials, system.endpoints.clone(), deadline);
            tokio::spawn(client.run())
        })
        .collect();
    let watcher = tokio::spawn(load::watch_deliveries(
        load::http_client(&alpes.credentials),
        system.endpoints.tracking.clone(),
        deadline,
    ));
    let mut injected = Vec::new();
    for (at, fault) in schedule(duration, options.quick, &kinds) {
        system.supervise(started + at).await?;
        injected.push(system.inject(fault, broker_down, options.embedded).await?);
    }
    system.supervise(deadline).await?;
    let mut load = LoadReport::default();
    for client in clients {
        load.merge(client.await?);
    }
    let (deliveries, watcher_outcomes) = watcher.await?;
    load.outcomes.extend(watcher_outcomes);
    system.supervise(Instant::now()).await?;

    // The checks, once deliveries and views have caught up (or the wait ran out).
    let store = match store {
        Some(store) => store,
        None => Store::Sqlite(open_read_only(&log_dir.join("data").join("alpes.db")).await?),
    };
    let catch_up_started = Instant::now();
    let findings = loop {
        let findings = check::check(&store, &load).await?;
        if findings.caught_up() || catch_up_started.elapsed() > CATCH_UP {
            break findings;
        }
        system.supervise(Instant::now() + Duration::from_secs(1)).await?;
    };
    let caught_up_in = catch_up_started.elapsed();
    for service in &mut system.services {
        service.kill();
    }
    let broker_figures = system.broker.as_ref().map(published);

    let report = Report {
        started,
        duration: started.elapsed(),
        load: &load,
        findings: &findings,
        caught_up_in,
        injected: &injected,
        deliveries: &deliveries,
        services: &system.services,
        broker: broker_figures,
    };
    let failures = report.print();
    match (failures.is_empty(), database) {
        (true, Some(database)) => database.drop().await?,
        (false, Some(database)) => eprintln!("soak: kept the database {} for inspection", database.url),
        _ => {}
    }
    if failures.is_empty() {
        let _ = std::fs::remove_dir_all(&log_dir);
        Ok(())
    } else {
        anyhow::bail!(
            "soak: {} invariant(s) failed: {}; process logs in {}",
            failures.len(),
            failures.join("; "),
            log_dir.display()
        )
    }
}

async fn open_read_only(path: &Path) -> anyhow::Result<sqlx::SqlitePool> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    Ok(sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

/// What the broker stores: messages on the two topics, distinct event ids among them
/// (the relay publishes at least once), messages dead-lettered by tracking.
struct Published {
    messages: usize,
    distinct: usize,
    dead_letters: usize,
}

fn published(broker: &TestBroker) -> Published {
    let messages: Vec<_> = ["campaign-events", "partner-events"]
        .iter()
        .flat_map(|topic| broker.messages(topic))
        .collect();
    let distinct: std::collections::HashSet<_> = messages
        .iter()
        .filter_map(|m| m.properties.get("event_id"))
        .collect();
    Published {
        messages: messages.len(),
        distinct: distinct.len(),
        dead_letters: broker.messages(DEAD_LETTER_TOPIC).len(),
    }
}

/// Everything the soak prints.
struct Report<'a> {
    started: Instant,
    duration: Duration,
    load: &'a LoadReport,
    findings: &'a Findings,
    caught_up_in: Duration,
    injected: &'a [Injected],
    deliveries: &'a [(Instant, i64)],
    services: &'a [Service],
    broker: Option<Published>,
}

/// How the answers split: by whether they fell in an outage window of their target.
#[derive(Default)]
struct Answers {
    total: usize,
    success: usize,
    client_errors: usize,
    expected_5xx: BTreeMap<u16, usize>,
    unexpected_5xx: BTreeMap<u16, usize>,
    connection_errors_in_windows: usize,
    connection_errors_outside: usize,
}

fn classify(outcomes: &[Outcome], injected: &[Injected]) -> Answers {
    let mut answers = Answers::default();
    for outcome in outcomes {
        answers.total += 1;
        let in_window = injected.iter().any(|fault| {
            fault.window.as_ref().is_some_and(|(targets, end)| {
                targets.contains(&outcome.target)
                    && outcome.started <= *end
                    && outcome.finished >= fault.started
            })
        });
        match outcome.answer {
            Answer::Status(status) if status < 400 => answers.success += 1,
            Answer::Status(status) if status < 500 => answers.client_errors += 1,
            Answer::Status(status) if in_window => *answers.expected_5xx.entry(status).or_default() += 1,
            Answer::Status(status) => *answers.unexpected_5xx.entry(status).or_default() += 1,
            _ if in_window => answers.connection_errors_in_windows += 1,
            _ => answers.connection_errors_outside += 1,
        }
    }
    answers
}

/// How long after `fault.back` service resumed: the first 2xx of a request to each
/// affected target started after it, or (relay, broker) the first event applied by
/// tracking after it. `None` if it was never seen.
fn recovery(fault: &Injected, outcomes: &[Outcome], deliveries: &[(Instant, i64)]) -> Option<Duration> {
    let first_success = |target: Target| {
        outcomes
            .iter()
            .filter(|o| o.target == target && o.started >= fault.back)
            .filter(|o| matches!(o.answer, Answer::Status(s) if s < 300))
            .map(|o| o.finished)
            .min()
    };
    let resumed_at = match &fault.window {
        Some((targets, _)) if !targets.is_empty() => targets
            .iter()
            .map(|&target| first_success(target))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()?,
        _ => {
            let before = deliveries
                .iter()
                .take_while(|(at, _)| *at <= fault.back)
                .map(|(_, applied)| *applied)
                .max()
                .unwrap_or(0);
            deliveries
                .iter()
                .find(|(at, applied)| *at > fault.back && *applied > before)?
                .0
        }
    };
    Some(resumed_at.saturating_duration_since(fault.back))
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

fn statuses(counts: &BTreeMap<u16, usize>) -> String {
    if counts.is_empty() {
        return "0".into();
    }
    let total: usize = counts.values().sum();
    let detail: Vec<String> = counts.iter().map(|(s, n)| format!("{n}x {s}")).collect();
    format!("{total} ({})", detail.join(", "))
}

impl Report<'_> {
    /// Prints the tables; returns the invariants that failed.
    fn print(&self) -> Vec<String> {
        let (load, f) = (self.load, self.findings);
        let answers = classify(&load.outcomes, self.injected);
        let mut failures = Vec::new();
        let mut row = |figure: &str, value: String, expected: &str, ok: bool| {
            println!(
                "| {figure} | {value} | {expected} | {} |",
                if ok { "ok" } else { "FAILED" }
            );
            if !ok {
                failures.push(figure.to_owned());
            }
        };
        println!();
        println!(
            "soak: {}, {} client iterations, {} faults",
            seconds(self.duration),
            load.iterations,
            self.injected.len()
        );
        println!();
        println!("| invariant / figure | value | expected | |");
        println!("|---|---|---|---|");
        row("requests (all tries)", answers.total.to_string(), "-", true);
        row(
            "acknowledged commands (2xx with event ids)",
            load.acknowledged_commands.to_string(),
            "> 0",
            load.acknowledged_commands > 0,
        );
        row(
            "acknowledged events",
            f.acknowledged_events.to_string(),
            "> 0",
            f.acknowledged_events > 0,
        );
        row(
            "acknowledged events missing from the log (lost)",
            f.lost.to_string(),
            "0",
            f.lost == 0,
        );
        row(
            "events in the log",
            f.log_events.to_string(),
            ">= acknowledged",
            f.log_events >= f.acknowledged_events,
        );
        row(
            "log events delivered to tracking",
            format!(
                "{} of {} (caught up {} after the load)",
                f.delivered,
                f.log_events,
                seconds(self.caught_up_in)
            ),
            "all",
            f.not_delivered == 0,
        );
        row(
            "events applied by tracking that the log lacks",
            f.phantom.to_string(),
            "0",
            f.phantom == 0,
        );
        row(
            "duplicates applied by tracking",
            f.duplicates_applied.to_string(),
            "0",
            f.duplicates_applied == 0,
        );
        row(
            "duplicate deliveries ignored by tracking",
            f.duplicates_ignored.to_string(),
            "-",
            true,
        );
        if let Some(broker) = &self.broker {
            row(
                "messages published / distinct events",
                format!("{} / {}", broker.messages, broker.distinct),
                "distinct = log",
                broker.distinct == f.log_events,
            );
            row(
                "dead-lettered messages (topic)",
                broker.dead_letters.to_string(),
                "0",
                broker.dead_letters == 0,
            );
        }
        row(
            "dead letters (table)",
            f.dead_letters.to_string(),
            "0",
            f.dead_letters == 0,
        );
        row(
            "streams with a gap or a repeated sequence",
            format!("{} of {}", f.broken_streams, f.streams),
            "0",
            f.broken_streams == 0,
        );
        row(
            "read-model rows at a version other than their stream's length",
            f.views_off.to_string(),
            "0",
            f.views_off == 0,
        );
        row(
            "campaigns whose tracking status differs from the read model",
            f.tracking_status_off.to_string(),
            "0",
            f.tracking_status_off == 0,
        );
        row(
            "creates applied twice (double effects)",
            f.double_creates.to_string(),
            "0",
            f.double_creates == 0,
        );
        row(
            "acknowledged clicks/conversions missing",
            format!("{} of {}", f.records_lost, f.acknowledged_records),
            "0",
            f.records_lost == 0,
        );
        row(
            "clicks refused: tracking did not know the campaign active in time",
            load.records_not_eligible.to_string(),
            "-",
            true,
        );
        row(
            "5xx outside outage windows",
            statuses(&answers.unexpected_5xx),
            "0",
            answers.unexpected_5xx.is_empty(),
        );
        row(
            "5xx inside Postgres restart windows",
            statuses(&answers.expected_5xx),
            "503 only",
            answers.expected_5xx.keys().all(|&s| s == 503),
        );
        row(
            "connection errors while a process was down",
            answers.connection_errors_in_windows.to_string(),
            "-",
            true,
        );
        row(
            "connection errors outside outage windows",
            answers.connection_errors_outside.to_string(),
            "0",
            answers.connection_errors_outside == 0,
        );
        let mut client_errors: BTreeMap<&(u16, String), usize> = BTreeMap::new();
        for error in &load.client_errors {
            *client_errors.entry(error).or_default() += 1;
        }
        let described: Vec<String> = client_errors
            .iter()
            .map(|((s, what), n)| format!("{n}x {s} {what}"))
            .collect();
        row(
            "4xx answered to commands and queries",
            if described.is_empty() {
                "0".into()
            } else {
                described.join(", ")
            },
            "0",
            described.is_empty(),
        );
        row(
            "operations given up after 40 s of retries",
            load.gave_up.to_string(),
            "0",
            load.gave_up == 0,
        );
        let crashes: u32 = self.services.iter().map(|s| s.unexpected_exits).sum();
        row(
            "processes that exited on their own",
            crashes.to_string(),
            "0",
            crashes == 0,
        );

        println!();
        println!("| fault | at | outage | recovered after | |");
        println!("|---|---|---|---|---|");
        for fault in self.injected {
            let recovered = recovery(fault, &load.outcomes, self.deliveries);
            let at = fault.started.saturating_duration_since(self.started);
            println!(
                "| {} | +{} | {} | {} | {} |",
                fault.fault.describe(),
                seconds(at),
                seconds(fault.back - fault.started),
                recovered.map_or("never".into(), seconds),
                if recovered.is_some() { "ok" } else { "FAILED" }
            );
            if recovered.is_none() {
                failures.push(format!("no recovery after {}", fault.fault.describe()));
            }
        }

        println!();
        println!("| process | lives | peak RSS (VmHWM, max over its lives) |");
        println!("|---|---|---|");
        for service in self.services {
            println!(
                "| {} | {} | {:.1} MiB |",
                service.name,
                service.lives,
                service.peak_rss_kib as f64 / 1024.0
            );
        }
        if !failures.is_empty() {
            for service in self.services {
                eprintln!("soak: {} log: {}", service.name, service.log_path().display());
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_schedule_injects_every_fault_once_after_a_warm_up() {
        let kinds = [Fault::KillServe, Fault::KillTracking, Fault::BrokerDown];
        let plan = schedule(Duration::from_secs(75), true, &kinds);
        assert_eq!(plan.iter().map(|(_, f)| *f).collect::<Vec<_>>(), kinds);
        assert_eq!(plan[0].0, Duration::from_secs(5));
        assert!(plan.last().unwrap().0 <= Duration::from_secs(65));
        let alone = schedule(Duration::from_secs(75), true, &[Fault::KillServe]);
        assert_eq!(alone.len(), 3);
    }

    #[test]
    fn the_full_schedule_repeats_every_fault() {
        let kinds = [Fault::KillServe, Fault::KillRelay, Fault::RestartPostgres];
        let plan = schedule(Duration::from_secs(600), false, &kinds);
        for kind in kinds {
            assert!(plan.iter().filter(|(_, f)| *f == kind).count() >= 3, "{kind:?}");
        }
    }

    fn outcome(target: Target, started: Instant, millis: u64, answer: Answer) -> Outcome {
        Outcome {
            target,
            started,
            finished: started + Duration::from_millis(millis),
            answer,
        }
    }

    #[test]
    fn answers_are_expected_only_inside_their_targets_outage_window() {
        let t0 = Instant::now();
        let fault = Injected {
            fault: Fault::RestartPostgres,
            started: t0 + Duration::from_secs(10),
            back: t0 + Duration::from_secs(12),
            window: Some((vec![Target::Api], t0 + Duration::from_secs(17))),
        };
        let outcomes = [
            outcome(Target::Api, t0 + Duration::from_secs(11), 5, Answer::Status(503)),
            outcome(Target::Api, t0 + Duration::from_secs(20), 5, Answer::Status(503)),
            outcome(
                Target::Tracking,
                t0 + Duration::from_secs(11),
                5,
                Answer::Status(500),
            ),
            outcome(Target::Api, t0 + Duration::from_secs(9), 2000, Answer::Broken),
            outcome(Target::Api, t0 + Duration::from_secs(1), 5, Answer::Refused),
            outcome(Target::Api, t0 + Duration::from_secs(13), 5, Answer::Status(201)),
        ];
        let answers = classify(&outcomes, &[fault]);
        assert_eq!(answers.expected_5xx, BTreeMap::from([(503, 1)]));
        assert_eq!(answers.unexpected_5xx, BTreeMap::from([(500, 1), (503, 1)]));
        assert_eq!(answers.connection_errors_in_windows, 1);
        assert_eq!(answers.connection_errors_outside, 1);
        assert_eq!(answers.success, 1);
    }

    #[test]
    fn recovery_is_the_first_success_after_the_fault_or_never() {
        let t0 = Instant::now();
        let killed = Injected {
            fault: Fault::KillServe,
            started: t0,
            back: t0 + Duration::from_secs(1),
            window: Some((vec![Target::Api], t0 + Duration::from_secs(2))),
        };
        let outcomes = [
            outcome(
                Target::Api,
                t0 + Duration::from_millis(1100),
                100,
                Answer::Refused,
            ),
            outcome(
                Target::Api,
                t0 + Duration::from_millis(1300),
                200,
                Answer::Status(200),
            ),
            outcome(
                Target::Api,
                t0 + Duration::from_millis(1400),
                50,
                Answer::Status(201),
            ),
        ];
        assert_eq!(
            recovery(&killed, &outcomes, &[]),
            Some(Duration::from_millis(450))
        );
        assert_eq!(recovery(&killed, &outcomes[..1], &[]), None);

        let relay = Injected {
            fault: Fault::KillRelay,
            started: t0,
            back: t0 + Duration::from_secs(1),
            window: Some((vec![], t0 + Duration::from_secs(1))),
        };
        let deliveries = [
            (t0 + Duration::from_millis(900), 10),
            (t0 + Duration::from_millis(1200), 10),
            (t0 + Duration::from_millis(1500), 14),
        ];
        assert_eq!(
            recovery(&relay, &[], &deliveries),
            Some(Duration::from_millis(500))
        );
        assert_eq!(recovery(&relay, &[], &deliveries[..2]), None);
    }
}
