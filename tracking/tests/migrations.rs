//! Tracking's own migration set (`migrations/tracking/`) beside the main one: the main set
//! no longer creates the tracking tables, and the two share sqlx's history table
//! (`_sqlx_migrations`), each applying its own versions and ignoring the other's, in
//! any order and as often as processes start.

mod common;

use common::*;

/// `20261122100001_create_tracking_schema.sql`, on both backends.
const TRACKING_SCHEMA: i64 = 20261122100001;

/// Whether the history records `version` as applied.
async fn applied(db: &TestDb, version: i64) -> bool {
    let sql = format!("SELECT count(*) FROM _sqlx_migrations WHERE version = {version} AND success");
    test_support::scalar(&db.db, &sql, &[]).await == 1
}

#[tokio::test]
async fn the_main_set_and_trackings_own_each_apply_theirs_and_ignore_the_other() {
    let db = TestDb::new().await;
    assert!(
        !applied(&db, TRACKING_SCHEMA).await,
        "the main set does not create the tracking tables"
    );

    tracking::migrate(&db.db)
        .await
        .expect("tracking's set beside the main one's history");
    assert!(applied(&db, TRACKING_SCHEMA).await);
    assert_eq!(count_rows(&db.db, "applied_events").await, 0);

    // A restart of `alpes serve` with the in-process bus: both sets again, each finding the
    // other's versions in the history.
    db.db
        .migrate()
        .await
        .expect("the main set beside tracking's history");
    tracking::migrate(&db.db).await.expect("tracking's set again");
    assert!(applied(&db, TRACKING_SCHEMA).await);
}
