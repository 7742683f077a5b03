//! Query latency under command load: `GET /campaigns?brand_id=` through `alpes serve`
//! against the same SQL run directly (same pool kind, same database, same load),
//! interleaved one for one so that both meet the same moments.

use crate::db::BenchDb;
use crate::seed;
use crate::server::Server;
use crate::stats::{millis, percentile, Row};
use projections::queries::{self, CampaignFilter};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn run(quick: bool) -> anyhow::Result<Vec<Row>> {
    let (campaigns, samples, writers) = if quick { (200, 30, 2) } else { (2_000, 500, 8) };
    let db = BenchDb::create().await?;
    seed::campaigns(&db.pool, campaigns).await?;
    let server = Server::start(&db.url).await?;
    let client = server.client.clone();
    // Wait until the campaigns view holds the seeded history.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let statuses: Value = client
            .get(format!("{}/projections", server.base))
            .send()
            .await?
            .json()
            .await?;
        let caught_up = statuses
            .as_array()
            .is_some_and(|all| all.iter().all(|s| s["lag"] == 0));
        if caught_up {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the views never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM campaign_view ORDER BY id LIMIT 200")
        .fetch_all(&db.pool)
        .await?;

    // The command load: writers adding participants to the seeded campaigns.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for writer in 0..writers {
        let (client, base, ids, stop) = (client.clone(), server.base.clone(), ids.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let id = &ids[(writer * 31 + n) % ids.len()];
                let body = json!({"partner_id": format!("w{writer}-{n}"), "kind": "affiliate", "name": "P", "profile": ""});
                let _ = client.post(format!("{base}/campaigns/{id}/participants")).json(&body).send().await;
                n += 1;
            }
        }));
    }

    let database = store::Database::from(db.pool.clone());
    let filter = CampaignFilter {
        brand_id: Some("brand-7".into()),
        limit: 20,
        ..CampaignFilter::default()
    };
    let (mut http, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let started = Instant::now();
        client
            .get(format!("{}/campaigns?brand_id=brand-7&limit=20", server.base))
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        http.push(started.elapsed());
        let started = Instant::now();
        queries::list_campaigns(&database, &filter).await?;
        direct.push(started.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        let _ = task.await;
    }
    drop(server);
    db.drop().await?;
    http.sort();
    direct.sort();
    let ratio = percentile(&http, 99.0).as_secs_f64() / percentile(&direct, 99.0).as_secs_f64().max(1e-9);
    Ok(vec![Row {
        figure: format!("query p50 / p99, GET /campaigns?brand_id= under {writers} writers"),
        ours: format!(
            "{} / {}",
            millis(percentile(&http, 50.0)),
            millis(percentile(&http, 99.0))
        ),
        baseline: format!(
            "{} / {} (the same SQL, run directly)",
            millis(percentile(&direct, 50.0)),
            millis(percentile(&direct, 99.0))
        ),
        ratio: format!("p99 {ratio:.2}x"),
        target: "p99 <= 3x".into(),
    }])
}
