//! Command latency against stream length: does a command on an aggregate with a
//! long history cost more? Streams of 10, 1 000 and 10 000 events (a campaign and its
//! budget changes) are written by SQL, then `alpes serve` takes 200 budget changes on
//! each, one at a time, over HTTP. Baseline: the 10-event stream, in the same run.
//! The first command on each stream reads it (cold); the rest find it in the cache.

use crate::db::BenchDb;
use crate::server::Server;
use crate::stats::{millis, percentile, Row};
use serde_json::json;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A campaign with `length` events: created, then budget changes.
async fn seed_stream(pool: &PgPool, length: i64) -> anyhow::Result<String> {
    let id = Uuid::now_v7().to_string();
    sqlx::query(
        r#"INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
           SELECT 'Campaign', $1, s,
                  CASE WHEN s = 1 THEN 'CampaignCreated' ELSE 'BudgetChanged' END, '1.0',
                  CASE WHEN s = 1
                       THEN '{"CampaignCreated": {"name": "Long", "brand_id": "b", "budget": {"amount": "1.00", "currency": "USD"}, "schedule": null}}'::json
                       ELSE json_build_object('BudgetChanged', json_build_object('budget',
                                json_build_object('amount', s || '.00', 'currency', 'USD')))
                  END,
                  '{}'
           FROM generate_series(1, $2::bigint) AS s"#,
    )
    .bind(&id)
    .bind(length)
    .execute(pool)
    .await?;
    Ok(id)
}

pub async fn run(quick: bool) -> anyhow::Result<Vec<Row>> {
    let (lengths, commands): (&[i64], usize) = if quick {
        (&[10, 100], 20)
    } else {
        (&[10, 1_000, 10_000], 200)
    };
    let db = BenchDb::create().await?;
    let mut streams = Vec::new();
    for &length in lengths {
        streams.push((length, seed_stream(&db.pool, length).await?));
    }
    let server = Server::start(&db.url).await?;
    let client = server.client.clone();
    let mut results = Vec::new();
    for (length, id) in &streams {
        let mut samples = Vec::with_capacity(commands);
        for n in 0..commands {
            let body = json!({"amount": format!("{}.00", n + 2), "currency": "USD"});
            let started = Instant::now();
            client
                .put(format!("{}/campaigns/{id}/budget", server.base))
                .json(&body)
                .send()
                .await?
                .error_for_status()?;
            samples.push(started.elapsed());
        }
        let cold = samples[0];
        samples.sort();
        results.push((
            *length,
            cold,
            percentile(&samples, 50.0),
            percentile(&samples, 99.0),
        ));
    }
    drop(server);
    db.drop().await?;

    let base_p99 = results[0].3.max(Duration::from_micros(1));
    Ok(results
        .iter()
        .map(|(length, cold, p50, p99)| Row {
            figure: format!(
                "command p50 / p99 on a {length}-event stream ({commands} commands; first one cold)"
            ),
            ours: format!("{} / {} (cold {})", millis(*p50), millis(*p99), millis(*cold)),
            baseline: format!("p99 {} on the {}-event stream", millis(base_p99), results[0].0),
            ratio: format!("{:.2}x", p99.as_secs_f64() / base_p99.as_secs_f64()),
            target: if *length == 10_000 {
                "<= 2x".into()
            } else {
                "-".into()
            },
        })
        .collect())
}
