//! Benchmarks of Alpes Partners. Every figure is printed next to a baseline measured
//! in the same run, on the same machine and database: machines are noisy, ratios are
//! what carries over. Results and the command that produced them go to BENCHMARKS.md.
//!
//! ```text
//! cargo run --release -p bench -- rebuild   # view rebuild vs stock cqrs-es replay
//! cargo run --release -p bench -- lag       # commit-to-visible latency under load
//! cargo run --release -p bench -- commands  # throughput vs raw INSERTs and stock cqrs-es, RSS
//! cargo run --release -p bench -- streams   # command latency vs stream length
//! cargo run --release -p bench -- queries   # query latency under load vs direct SQL
//! cargo run --release -p bench -- relay     # relay to the test broker vs a raw pulsar producer
//! cargo run --release -p bench -- all [--quick]
//! cargo run --release -p bench -- soak [--minutes N] [--quick] [--embedded]  # faults, invariants
//! ```
//!
//! Each benchmark runs against its own fresh database on the local Postgres
//! (`BENCH_DATABASE_SERVER`, default `postgres://postgres@127.0.0.1:5432`), dropped after;
//! `relay` also starts the Pulsar test broker (`pulsar-test-broker`) in process.
//! Authentication is on, as in production: every `alpes` process started gets a random
//! `ALPES_JWT_SECRET`, and every request to it an admin token (`credentials`); the
//! raw-SQL and stock cqrs-es baselines are not our server and need none.
//!
//! # Layout
//! - `db`: fresh databases; `seed`: the event history the benchmarks replay.
//! - `rebuild`: our shadow-table rebuild against `QueryReplay` + `GenericQuery` +
//!   `PostgresViewRepository`.
//! - `lag`: commands at a steady rate, and how long until a read sees each one.
//! - `commands`: throughput over HTTP against raw INSERTs and stock cqrs-es; RSS.
//! - `streams`: command latency against stream length.
//! - `queries`: query latency under command load against the same SQL run directly.
//! - `relay`: the outbox relay against a raw `pulsar` producer sending the same payloads
//!   to the same test broker; also the relay's reader task alone.
//! - `server`: `alpes serve` as a child process.
//! - `credentials`: each system's random token secret, and clients sending its admin
//!   token (issued by the `alpes` binary under test).
//! - `soak`: the system under a mixed load while its processes are killed, Postgres
//!   restarts and the broker goes down; then its invariants (see RELIABILITY.md).
//! - `stats`: percentiles and the printed table.

mod commands;
mod credentials;
mod db;
mod lag;
mod queries;
mod rebuild;
mod relay;
mod seed;
mod server;
mod soak;
mod stats;
mod streams;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bench",
    about = "Alpes Partners benchmarks, each against a baseline in the same run"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Small sizes: checks that every benchmark still works (CI), not for figures.
    #[arg(long, global = true)]
    quick: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Rebuild of the campaigns view: ours vs stock cqrs-es replay.
    Rebuild,
    /// Commit-to-visible latency of the views while commands run at a steady rate.
    Lag,
    /// Command throughput over HTTP vs raw inserts and stock cqrs-es; peak RSS.
    Commands {
        /// Concurrency levels to measure (for profiling one level: `--clients 8`).
        #[arg(long, num_args = 1.., default_values_t = [1, 8, 32])]
        clients: Vec<usize>,
        /// Seconds per measurement (default 4, 1 with --quick).
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Command latency against the length of the aggregate's stream.
    Streams,
    /// Query latency under command load vs the same SQL run directly.
    Queries,
    /// Relay to the test broker vs a raw `pulsar` producer, same payloads.
    Relay,
    /// Everything.
    All,
    /// A mixed load for N minutes while processes are `kill -9`ed, Postgres restarts and
    /// the broker goes down; then checks that nothing acknowledged was lost or applied
    /// twice (exits non-zero otherwise). Not part of `all`.
    Soak {
        /// How long the load runs (default 10, or 1.25 with --quick).
        #[arg(long)]
        minutes: Option<f64>,
        /// One `alpes serve` on the embedded SQLite database with its in-process bus.
        #[arg(long)]
        embedded: bool,
        /// Leave out the Postgres restarts (they disturb everything else on the server).
        #[arg(long)]
        no_postgres_restart: bool,
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Soak {
        minutes,
        embedded,
        no_postgres_restart,
        clients,
    } = cli.command
    {
        return soak::run(soak::Options {
            minutes,
            quick: cli.quick,
            embedded,
            postgres_restart: !no_postgres_restart,
            clients: clients.max(1),
        })
        .await;
    }
    let mut rows = Vec::new();
    if matches!(cli.command, Command::Rebuild | Command::All) {
        rows.extend(rebuild::run(cli.quick).await?);
    }
    if matches!(cli.command, Command::Lag | Command::All) {
        rows.extend(lag::run(cli.quick).await?);
    }
    match &cli.command {
        Command::Commands { clients, seconds } => {
            rows.extend(commands::run(cli.quick, clients, *seconds).await?)
        }
        Command::All => rows.extend(commands::run(cli.quick, &[1, 8, 32], None).await?),
        _ => {}
    }
    if matches!(cli.command, Command::Streams | Command::All) {
        rows.extend(streams::run(cli.quick).await?);
    }
    if matches!(cli.command, Command::Queries | Command::All) {
        rows.extend(queries::run(cli.quick).await?);
    }
    if matches!(cli.command, Command::Relay | Command::All) {
        rows.extend(relay::run(cli.quick).await?);
    }
    stats::print_table(&rows);
    Ok(())
}
