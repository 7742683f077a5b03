//! Rebuild of the campaigns view: our shadow-table rebuild against the stock cqrs-es
//! replay (`QueryReplay` + `GenericQuery` + `PostgresViewRepository`), which loads,
//! updates and saves the view row once per event.

use crate::db::BenchDb;
use crate::seed;
use crate::stats::{median, Row};
use aggregates::campaign::{Campaign, CampaignEvent, CampaignStatus, Participant};
use aggregates::money::Money;
use cqrs_es::persist::{GenericQuery, QueryReplay};
use cqrs_es::{EventEnvelope, View};
use postgres_es::{PostgresEventRepository, PostgresViewRepository};
use projections::{rebuild, Projections, ProjectorSettings};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use store::LogWaker;

/// The campaign view, as a team would write it for the stock replay: the same
/// fields as ours, folded one event at a time.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StockCampaignView {
    name: String,
    brand_id: String,
    status: Option<CampaignStatus>,
    budget: Option<Money>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    participants: Vec<Participant>,
    version: usize,
}

impl View<Campaign> for StockCampaignView {
    fn update(&mut self, event: &EventEnvelope<Campaign>) {
        self.version = event.sequence;
        match &event.payload {
            CampaignEvent::CampaignCreated {
                name,
                brand_id,
                budget,
                schedule,
            } => {
                self.name = name.clone();
                self.brand_id = brand_id.clone();
                self.budget = Some(*budget);
                self.status = Some(CampaignStatus::Draft);
                self.starts_at = schedule.map(|s| s.starts_at.to_rfc3339());
                self.ends_at = schedule.map(|s| s.ends_at.to_rfc3339());
            }
            CampaignEvent::ParticipantAdded(participant) => self.participants.push(participant.clone()),
            CampaignEvent::ParticipantRemoved { partner_id } => {
                self.participants.retain(|p| &p.partner_id != partner_id)
            }
            CampaignEvent::BudgetChanged { budget } => self.budget = Some(*budget),
            CampaignEvent::CampaignRescheduled { schedule } => {
                self.starts_at = Some(schedule.starts_at.to_rfc3339());
                self.ends_at = Some(schedule.ends_at.to_rfc3339());
            }
            CampaignEvent::CampaignActivated | CampaignEvent::CampaignResumed => {
                self.status = Some(CampaignStatus::Active)
            }
            CampaignEvent::CampaignPaused => self.status = Some(CampaignStatus::Paused),
            CampaignEvent::CampaignCompleted => self.status = Some(CampaignStatus::Completed),
            CampaignEvent::CampaignCancelled { .. } => self.status = Some(CampaignStatus::Cancelled),
        }
    }
}

/// Our rebuild of the campaigns view over what `db` holds; events per second.
async fn ours(db: &BenchDb) -> anyhow::Result<(u64, f64)> {
    let (projections, _not_run) = Projections::new(
        &store::Database::from(db.pool.clone()),
        &LogWaker::never(),
        &ProjectorSettings::default(),
        aggregates::upcasters::all,
    );
    let handle = projections
        .get(projections::campaigns::NAME)
        .expect("the campaigns projection");
    let report = rebuild::rebuild(handle, |_| {}).await?;
    Ok((report.events, report.events_per_second))
}

/// The stock replay over what `db` holds, into a fresh view table; events per second.
async fn stock(db: &BenchDb, events: u64) -> anyhow::Result<f64> {
    sqlx::query("DROP TABLE IF EXISTS stock_campaign_view")
        .execute(&db.pool)
        .await?;
    sqlx::query(
        "CREATE TABLE stock_campaign_view (view_id text PRIMARY KEY, version bigint NOT NULL, payload json NOT NULL)",
    )
    .execute(&db.pool)
    .await?;
    let views = Arc::new(PostgresViewRepository::<StockCampaignView, Campaign>::new(
        "stock_campaign_view",
        db.pool.clone(),
    ));
    let replay = QueryReplay::new(
        PostgresEventRepository::new(db.pool.clone()),
        GenericQuery::new(views),
    )
    .with_upcasters(aggregates::upcasters::all());
    let started = Instant::now();
    replay
        .replay_all()
        .await
        .map_err(|e| anyhow::anyhow!("stock replay: {e}"))?;
    let elapsed = started.elapsed();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM stock_campaign_view")
        .fetch_one(&db.pool)
        .await?;
    anyhow::ensure!(
        rows * seed::EVENTS_PER_CAMPAIGN == events as i64,
        "stock replay built {rows} views"
    );
    Ok(events as f64 / elapsed.as_secs_f64())
}

pub async fn run(quick: bool) -> anyhow::Result<Vec<Row>> {
    // Same events for both: the stock replay is slow, so the side-by-side uses a
    // smaller history; ours is also measured at full size.
    let (full_campaigns, shared_campaigns, repetitions) =
        if quick { (200, 100, 1) } else { (20_000, 2_000, 3) };

    let shared = BenchDb::create().await?;
    let shared_events = seed::campaigns(&shared.pool, shared_campaigns).await? as u64;
    let mut our_rates = Vec::new();
    let mut stock_rates = Vec::new();
    for _ in 0..repetitions {
        our_rates.push(ours(&shared).await?.1);
        stock_rates.push(stock(&shared, shared_events).await?);
    }
    shared.drop().await?;
    let (our_rate, stock_rate) = (median(our_rates), median(stock_rates));

    let full = BenchDb::create().await?;
    let full_events = seed::campaigns(&full.pool, full_campaigns).await? as u64;
    let mut full_rates = Vec::new();
    for _ in 0..repetitions {
        let (events, rate) = ours(&full).await?;
        anyhow::ensure!(events == full_events, "rebuilt {events} of {full_events} events");
        full_rates.push(rate);
    }
    let views: i64 = sqlx::query_scalar("SELECT count(*) FROM campaign_view")
        .fetch_one(&full.pool)
        .await?;
    anyhow::ensure!(views == full_campaigns, "the rebuilt view has {views} campaigns");
    full.drop().await?;

    eprintln!(
        "rebuild: {shared_events} events side by side ({repetitions} runs, medians); ours also over {full_events}"
    );
    Ok(vec![
        Row {
            figure: format!("campaigns view rebuild, events/s ({shared_events} events)"),
            ours: format!("{our_rate:.0}"),
            baseline: format!("{stock_rate:.0} (stock QueryReplay + GenericQuery + PostgresViewRepository)"),
            ratio: format!("{:.1}x", our_rate / stock_rate),
            target: ">= 30x".into(),
        },
        Row {
            figure: format!("campaigns view rebuild, events/s ({full_events} events)"),
            ours: format!("{:.0}", median(full_rates)),
            baseline: "-".into(),
            ratio: "-".into(),
            target: "-".into(),
        },
    ])
}
