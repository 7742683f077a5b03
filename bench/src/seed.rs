//! The event history the rebuild benchmarks replay: campaigns of ten events each
//! (created, six participants, activated, budget changed, paused), written straight
//! into the log by SQL, in transactions of 1000 campaigns.

use sqlx::PgPool;

/// Events per seeded campaign.
pub const EVENTS_PER_CAMPAIGN: i64 = 10;

const SEED_SQL: &str = r#"
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'Campaign', c.id, e.seq, e.event_type, '1.0', e.payload::json, '{}'
FROM (SELECT gen_random_uuid()::text AS id, g AS n FROM generate_series($1::bigint, $2::bigint) AS g) AS c
CROSS JOIN LATERAL (
    SELECT 1 AS seq, 'CampaignCreated' AS event_type,
           jsonb_build_object('CampaignCreated', jsonb_build_object(
               'name', 'Campaign ' || c.n, 'brand_id', 'brand-' || (c.n % 50),
               'budget', jsonb_build_object('amount', '10000.00', 'currency', 'USD'),
               'schedule', NULL)) AS payload
    UNION ALL
    SELECT 1 + p, 'ParticipantAdded',
           jsonb_build_object('ParticipantAdded', jsonb_build_object('participant', jsonb_build_object(
               'partner_id', 'p-' || p, 'kind', 'influencer', 'name', 'Partner ' || p, 'profile', '')))
    FROM generate_series(1, 6) AS p
    UNION ALL SELECT 8, 'CampaignActivated', '"CampaignActivated"'::jsonb
    UNION ALL SELECT 9, 'BudgetChanged',
           jsonb_build_object('BudgetChanged', jsonb_build_object(
               'budget', jsonb_build_object('amount', '20000.00', 'currency', 'USD')))
    UNION ALL SELECT 10, 'CampaignPaused', '"CampaignPaused"'::jsonb
) AS e
ORDER BY c.n, e.seq
"#;

/// Appends `campaigns` seeded campaigns; returns the number of events written.
pub async fn campaigns(pool: &PgPool, campaigns: i64) -> anyhow::Result<i64> {
    let mut first = 1;
    while first <= campaigns {
        let last = (first + 999).min(campaigns);
        sqlx::query(SEED_SQL).bind(first).bind(last).execute(pool).await?;
        first = last + 1;
    }
    Ok(campaigns * EVENTS_PER_CAMPAIGN)
}
