//! The event log on the run's backend: what the log assigns, idempotency keys, and
//! the SQLite file's durability settings.

use chrono::Utc;
use store::{CommitError, EventLog, IdempotencyClaim, LogCursor, NewEvent};
use test_support::TestDb;
use uuid::Uuid;

fn event(sequence: i64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        sequence,
        event_type: "Something".into(),
        event_version: "1.0".into(),
        payload: serde_json::json!({ "n": sequence }),
    }
}

#[tokio::test]
async fn appended_events_read_back_in_commit_order_with_what_the_log_assigned() {
    // Arrange
    let db = TestDb::new().await;
    let log = EventLog::new(db.db.clone());
    let before = Utc::now() - chrono::Duration::seconds(1);

    // Act
    let first = log
        .append("Thing", "a", &[event(1), event(2)], &serde_json::json!({}), None)
        .await
        .unwrap();
    let second = log
        .append(
            "Thing",
            "b",
            &[event(1)],
            &serde_json::json!({ "by": "test" }),
            None,
        )
        .await
        .unwrap();

    // Assert
    // On Postgres an event is readable once no older transaction of the server runs
    // (other tests' included): wait for it, as a log reader does.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let read = loop {
        let read = db.db.read_after(LogCursor::START, 10).await.unwrap();
        if read.len() == 3 || std::time::Instant::now() > deadline {
            break read;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let positions: Vec<i64> = read.iter().map(|e| e.position()).collect();
    assert_eq!(
        positions,
        vec![first[0].position, first[1].position, second[0].position]
    );
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(read[1].payload, serde_json::json!({ "n": 2 }));
    assert_eq!(read[2].metadata, serde_json::json!({ "by": "test" }));
    assert!(read[0].recorded_at >= before && read[0].recorded_at <= Utc::now());
    assert_eq!(db.db.head_position().await.unwrap(), second[0].position);
    assert_eq!(db.db.count_after(read[0].cursor).await.unwrap(), 2);
    assert!(!db.db.any_after(read[2].cursor).await.unwrap());
    assert_eq!(
        db.db.covers(read[1].cursor, first[0].position).await.unwrap(),
        Some(true)
    );
    assert_eq!(
        db.db.covers(read[0].cursor, second[0].position).await.unwrap(),
        Some(false)
    );
    assert_eq!(db.db.covers(read[0].cursor, 999_999).await.unwrap(), None);
}

#[tokio::test]
async fn a_taken_sequence_and_a_taken_idempotency_key_are_told_apart_and_write_nothing() {
    let db = TestDb::new().await;
    let log = EventLog::new(db.db.clone());
    let claim = IdempotencyClaim {
        key: "key-1".into(),
        request_hash: vec![1, 2, 3],
    };
    log.append("Thing", "a", &[event(1)], &serde_json::json!({}), Some(&claim))
        .await
        .unwrap();

    let conflict = log
        .append("Thing", "a", &[event(1)], &serde_json::json!({}), None)
        .await;
    let reused = log
        .append("Thing", "b", &[event(1)], &serde_json::json!({}), Some(&claim))
        .await;

    assert!(
        matches!(conflict, Err(CommitError::StreamConflict)),
        "{conflict:?}"
    );
    assert!(
        matches!(reused, Err(CommitError::IdempotencyKeyTaken)),
        "{reused:?}"
    );
    // The refused append of "b" left no event behind.
    assert_eq!(db.db.count_after(LogCursor::START).await.unwrap(), 1);
    let outcome = log.find_idempotent_outcome("key-1").await.unwrap().unwrap();
    assert_eq!(outcome.aggregate_id, "a");
    assert_eq!(outcome.request_hash, vec![1, 2, 3]);
    assert_eq!(outcome.events.len(), 1);
    assert!(log.find_idempotent_outcome("key-2").await.unwrap().is_none());
}

#[tokio::test]
async fn the_sqlite_file_commits_to_disk_before_answering() {
    let db = TestDb::sqlite().await;
    let pool = db.db.as_sqlite().unwrap().pool();

    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .unwrap();

    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "synchronous=FULL");
}

#[tokio::test]
async fn an_unknown_database_url_is_refused_with_a_clear_error() {
    let error = store::Database::connect("mysql://localhost/alpes", 2)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("postgres://"), "{error}");
}

#[tokio::test]
async fn writers_cancelled_at_any_point_leave_the_sqlite_file_writable() {
    // Arrange: many appends, each cancelled at a different moment (as a client that
    // hangs up cancels its command).
    let db = TestDb::sqlite().await;
    let log = EventLog::new(db.db.clone());
    let mut tasks = Vec::new();
    for n in 0..200u64 {
        let log = log.clone();
        let task = tokio::spawn(async move {
            let id = format!("s-{n}");
            let _ = log
                .append("Thing", &id, &[event(1)], &serde_json::json!({}), None)
                .await;
        });
        tasks.push((task, n));
    }
    for (task, n) in tasks {
        tokio::time::sleep(std::time::Duration::from_micros(n % 7 * 50)).await;
        task.abort();
    }

    // Act: the next append, with a deadline well under SQLite's busy timeout.
    let next = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        log.append("Thing", "after", &[event(1)], &serde_json::json!({}), None),
    )
    .await;

    // Assert
    assert!(matches!(next, Ok(Ok(_))), "{next:?}");
}

/// Waits until the waker has seen its first wake-up: the LISTEN connection is up (it
/// bumps once when it starts listening), so later notifications reach it.
async fn listening(waker: &mut store::LogWaker) {
    assert!(
        waker.wait(std::time::Duration::from_secs(10)).await,
        "the waker never started listening"
    );
}

#[tokio::test]
async fn readers_are_woken_after_appends_commit_and_not_by_rows_written_behind_the_log_on_postgres() {
    // Arrange
    let db = TestDb::postgres().await;
    let log = EventLog::new(db.db.clone());
    let mut waker = store::LogWaker::spawn(&db.db);
    listening(&mut waker).await;

    // Act 1: a row inserted by SQL, not through the log (no trigger notifies any more).
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('Thing', 'behind', 1, 'Something', '1.0', '{}', '{}')",
    )
    .execute(db.pool())
    .await
    .unwrap();

    // Assert 1: no wake-up (a reader finds such rows at its next poll).
    assert!(!waker.wait(std::time::Duration::from_millis(500)).await);

    // Act 2: an append through the log.
    log.append("Thing", "a", &[event(1)], &serde_json::json!({}), None)
        .await
        .unwrap();

    // Assert 2
    assert!(waker.wait(std::time::Duration::from_secs(10)).await);
}

#[tokio::test]
async fn the_wake_up_leaves_its_connection_with_synchronous_commits_on_postgres() {
    // Arrange: one connection, shared by the append and by the NOTIFY after it (which
    // commits with synchronous_commit off, for its own transaction only).
    let db = TestDb::postgres().await;
    let pool = store::postgres::connect_lazy(db.url.parse().unwrap(), 1);
    let log = EventLog::new(pool.clone());
    let mut listener = appends_listener(&db).await;

    // Act: the NOTIFY has been sent (and has used the connection) once it is received.
    log.append("Thing", "a", &[event(1)], &serde_json::json!({}), None)
        .await
        .unwrap();
    assert!(notified(&mut listener).await);
    let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&pool)
        .await
        .unwrap();

    // Assert: the next append on this connection commits durably.
    assert_eq!(setting, "on");
}

#[tokio::test]
async fn a_pooled_connection_that_died_while_idle_is_replaced_before_use_on_postgres() {
    // Arrange: a pool of one connection, used once, then killed by the server.
    let db = TestDb::postgres().await;
    let pool = store::postgres::connect_lazy(db.url.parse().unwrap(), 1);
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert!(terminated);

    // Act: after the pool's "recently used" window, the connection is pinged before use.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let answer: Result<i32, _> = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await;

    // Assert: the dead connection was replaced, the statement did not fail.
    assert_eq!(answer.unwrap(), 1);
    let new_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(new_pid, pid);
}

/// A listener of its own on the channel appends are notified on, as another
/// process's reader has.
async fn appends_listener(db: &TestDb) -> sqlx::postgres::PgListener {
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
    listener.listen(store::postgres::APPENDED_CHANNEL).await.unwrap();
    listener
}

/// Whether a notification arrives within ten seconds.
async fn notified(listener: &mut sqlx::postgres::PgListener) -> bool {
    let wait = std::time::Duration::from_secs(10);
    matches!(tokio::time::timeout(wait, listener.recv()).await, Ok(Ok(_)))
}

#[tokio::test]
async fn other_processes_are_notified_of_every_round_of_appends_on_postgres() {
    // Arrange: a listener of its own, as another process's reader has (this process's
    // readers are woken in-process).
    let db = TestDb::postgres().await;
    let log = EventLog::new(db.db.clone());
    let mut listener = appends_listener(&db).await;

    // Act / Assert: the first append is notified; so is one made right after, while
    // notifications are spaced out (it is not lost in the pause).
    log.append("Thing", "a", &[event(1)], &serde_json::json!({}), None)
        .await
        .unwrap();
    assert!(notified(&mut listener).await);
    log.append("Thing", "b", &[event(1)], &serde_json::json!({}), None)
        .await
        .unwrap();
    assert!(notified(&mut listener).await);
}
