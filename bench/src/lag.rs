//! Projection lag: commands at a steady rate through the real HTTP API, and for each
//! one, how long a read asking for its position (`min_position`) waits until the view
//! shows it. Baseline: the same read of an already visible campaign, in the same run.

use crate::credentials::Credentials;
use crate::db::BenchDb;
use crate::stats::{millis, percentile, Row};
use alpes::settings::{AuthSettings, BusSettings, DatabaseSettings, Settings};
use alpes::startup::Application;
use projections::ProjectorSettings;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn create_campaign(client: &reqwest::Client, base: &str) -> anyhow::Result<Value> {
    let body = json!({
        "name": "Lag", "brand_id": "brand-lag", "budget": {"amount": "100.00", "currency": "USD"},
        "participants": [{"partner_id": "p-0", "kind": "influencer", "name": "P", "profile": ""}]
    });
    Ok(client
        .post(format!("{base}/campaigns"))
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

pub async fn run(quick: bool) -> anyhow::Result<Vec<Row>> {
    let (rate, seconds, campaigns) = if quick { (20, 2, 5) } else { (200, 15, 50) };
    let db = BenchDb::create().await?;
    let credentials = Credentials::in_process()?;
    let settings = Settings {
        bind: "127.0.0.1:0".parse()?,
        database: DatabaseSettings {
            url: db.url.clone().into(),
            max_connections: 16,
        },
        aggregate_cache_capacity: 10_000,
        consistency_timeout: Duration::from_secs(5),
        projectors: ProjectorSettings::default(),
        // The write path and views only, as the baselines (no relay).
        bus: BusSettings::Off,
        commands: Default::default(),
        // The production limits, without a rate limit: the load comes from one address.
        http: alpes::server::HttpSettings::default(),
        // As deployed: a token verified on every request.
        auth: AuthSettings::Tokens(credentials.token_settings()),
        legacy_principal: None,
    };
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until_stopped());
    let client = credentials.client()?;

    let mut ids = Vec::new();
    for _ in 0..campaigns {
        ids.push(
            create_campaign(&client, &base).await?["aggregate_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }

    // Commands at a steady rate, each followed by a read of its own write.
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut tasks = Vec::new();
    for n in 0..rate * seconds {
        ticker.tick().await;
        let (client, base, id) = (client.clone(), base.clone(), ids[n as usize % ids.len()].clone());
        tasks.push(tokio::spawn(async move {
            let body = json!({"partner_id": format!("p-{}", n + 1), "kind": "affiliate", "name": "P", "profile": ""});
            let started = Instant::now();
            let answer: Value = client
                .post(format!("{base}/campaigns/{id}/participants"))
                .json(&body)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let command = started.elapsed();
            let started = Instant::now();
            client
                .get(format!("{base}/campaigns/{id}?min_position={}", answer["position"]))
                .send()
                .await?
                .error_for_status()?;
            let visible = started.elapsed();
            // The same read once the write is visible: what a read costs anyway.
            let started = Instant::now();
            client.get(format!("{base}/campaigns/{id}")).send().await?.error_for_status()?;
            anyhow::Ok((command, visible, started.elapsed()))
        }));
    }
    let (mut commands, mut visible, mut plain) = (Vec::new(), Vec::new(), Vec::new());
    for task in tasks {
        let (command, wait, read) = task.await??;
        commands.push(command);
        visible.push(wait);
        plain.push(read);
    }
    server.abort();
    db.drop().await?;
    for samples in [&mut commands, &mut visible, &mut plain] {
        samples.sort();
    }
    eprintln!("lag: {} commands at {rate}/s over {seconds}s", commands.len());
    Ok(vec![
        Row {
            figure: format!("read-your-writes read after a command, p50 / p99 ({rate} commands/s)"),
            ours: format!(
                "{} / {}",
                millis(percentile(&visible, 50.0)),
                millis(percentile(&visible, 99.0))
            ),
            baseline: format!(
                "{} / {} (the same read, already visible)",
                millis(percentile(&plain, 50.0)),
                millis(percentile(&plain, 99.0))
            ),
            ratio: format!(
                "lag ~ {} / {}",
                millis(percentile(&visible, 50.0).saturating_sub(percentile(&plain, 50.0))),
                millis(percentile(&visible, 99.0).saturating_sub(percentile(&plain, 99.0)))
            ),
            target: "a few ms".into(),
        },
        Row {
            figure: format!("command latency over HTTP, p50 / p99 ({rate} commands/s)"),
            ours: format!(
                "{} / {}",
                millis(percentile(&commands, 50.0)),
                millis(percentile(&commands, 99.0))
            ),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
    ])
}
