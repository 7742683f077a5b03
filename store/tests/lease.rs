//! [`Lease`]: one holder of a key at a time, on both backends; on SQLite the lease row's
//! own rules (a holder retakes its own lease, an expired one is taken over and its former
//! holder learns it, a renewal that cannot write in time fails). (These were the relay
//! lock's tests, `bus/tests/lock.rs`, before every lease became one.)

use std::time::Duration;
use store::{Lease, LeaseError};
use test_support::TestDb;

const LONG: Duration = Duration::from_secs(60);
const RENEW: Duration = Duration::from_secs(2);

#[tokio::test]
async fn a_lease_is_held_by_one_holder_at_a_time_and_released_for_the_next() {
    let test = TestDb::new().await;
    let db = &test.db;
    let key = Lease::key("relay", "in-process");
    let mut first = Lease::try_acquire(db, &key, "holder-1", LONG)
        .await
        .unwrap()
        .expect("free");
    assert!(Lease::is_held(db, &key).await.unwrap());
    assert!(Lease::try_acquire(db, &key, "holder-2", LONG)
        .await
        .unwrap()
        .is_none());
    let other = Lease::try_acquire(db, &Lease::key("relay", "pulsar"), "holder-2", LONG)
        .await
        .unwrap()
        .expect("leases of other keys do not exclude each other");
    first.renew(RENEW).await.unwrap();

    first.release().await;
    assert!(!Lease::is_held(db, &key).await.unwrap());
    let second = Lease::try_acquire(db, &key, "holder-2", LONG)
        .await
        .unwrap()
        .expect("released");
    second.release().await;
    other.release().await;
}

#[tokio::test]
async fn a_holder_takes_its_own_lease_back_but_not_another_holders_on_sqlite() {
    let test = TestDb::sqlite().await;
    let db = &test.db;
    let key = Lease::key("relay", "in-process");
    let lease = Lease::try_acquire(db, &key, "holder-1", LONG)
        .await
        .unwrap()
        .expect("free");
    // The same holder gave that lease up (a renewal timed out) and takes it again: the
    // lease, still valid, is its own.
    drop(lease);
    let mut again = Lease::try_acquire(db, &key, "holder-1", LONG)
        .await
        .unwrap()
        .expect("its own");
    assert!(Lease::try_acquire(db, &key, "holder-2", LONG)
        .await
        .unwrap()
        .is_none());
    again.renew(RENEW).await.unwrap();
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_former_holder_learns_it_on_sqlite() {
    let test = TestDb::sqlite().await;
    let db = &test.db;
    let key = Lease::key("projector", "campaigns");
    let mut dead = Lease::try_acquire(db, &key, "holder-1", Duration::from_millis(50))
        .await
        .unwrap()
        .expect("free");
    assert!(Lease::try_acquire(db, &key, "holder-2", LONG)
        .await
        .unwrap()
        .is_none());

    tokio::time::sleep(Duration::from_millis(100)).await; // holder-1 stopped renewing
    assert!(
        !Lease::is_held(db, &key).await.unwrap(),
        "an expired lease is nobody's"
    );
    let mut successor = Lease::try_acquire(db, &key, "holder-2", LONG)
        .await
        .unwrap()
        .expect("expired");
    let error = dead.renew(RENEW).await.unwrap_err();
    assert!(matches!(error, LeaseError::Lost(_)), "{error}");
    successor.renew(RENEW).await.unwrap();
}

#[tokio::test]
async fn a_lease_that_cannot_be_renewed_in_time_fails_its_renewal_on_sqlite() {
    let test = TestDb::sqlite().await;
    let db = &test.db;
    let mut lease = Lease::try_acquire(db, "relay:in-process", "holder-1", LONG)
        .await
        .unwrap()
        .expect("free");
    // Another writer of this process holds the writer turn.
    let busy = db.as_sqlite().unwrap().begin_write().await.unwrap();
    let error = lease.renew(Duration::from_millis(100)).await.unwrap_err();
    assert!(matches!(error, LeaseError::Timeout(_)), "{error}");
    drop(busy);
    lease.renew(RENEW).await.unwrap();
}

#[tokio::test]
async fn a_lease_goes_with_its_connection_on_postgres() {
    let test = TestDb::postgres().await;
    let db = &test.db;
    let key = Lease::key("rebuild", "campaigns");
    let mut lease = Lease::try_acquire(db, &key, "holder-1", LONG)
        .await
        .unwrap()
        .expect("free");
    // The server ends the lease's session (a restart, a network cut).
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE application_name = 'alpes-lease' AND datname = current_database()",
    )
    .fetch_one(test.pool())
    .await
    .unwrap();
    assert_eq!(ended, 1);
    assert!(lease.renew(RENEW).await.is_err(), "the holder learns it");
    let successor = Lease::try_acquire(db, &key, "holder-2", LONG).await.unwrap();
    assert!(successor.is_some(), "and another takes it at once");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_lease_of_a_process_that_died_is_taken_over_at_once_on_sqlite() {
    let test = TestDb::sqlite().await;
    let db = &test.db;
    // This process's lease tells how this machine's processes are named.
    let own = Lease::try_acquire(db, "probe", "holder", LONG)
        .await
        .unwrap()
        .unwrap();
    let holder = |key: &'static str| async move {
        test_support::text(db, "SELECT holder FROM leases WHERE key = $1", &[key]).await
    };
    let probe = holder("probe").await;
    let (process, _) = probe.split_once('/').unwrap();
    let (machine, pid) = process.rsplit_once(':').unwrap();
    assert_eq!(pid, std::process::id().to_string());
    own.release().await;

    for (dead, gone) in [
        // A process id no process has in this namespace (Linux's ids stop at 2^22).
        (format!("{machine}:9999999/a"), true),
        // A boot before this one: whatever its id, the process is gone.
        (
            format!("another-boot:{}:1/a", machine.split_once(':').unwrap().1),
            true,
        ),
        // Another PID namespace (another container on the same volume): unknown, alive.
        (
            format!("{}:pid_[1]:9999999/a", machine.split_once(':').unwrap().0),
            false,
        ),
    ] {
        test_support::execute(db, "DELETE FROM leases", &[]).await;
        test_support::execute(
            db,
            "INSERT INTO leases (key, holder, expires_at) VALUES ('projector:campaigns', $1, 9000000000000)",
            &[&dead],
        )
        .await;
        assert_eq!(
            !Lease::is_held(db, "projector:campaigns").await.unwrap(),
            gone,
            "{dead}"
        );
        let lease = Lease::try_acquire(db, "projector:campaigns", "successor", LONG)
            .await
            .unwrap();
        assert_eq!(lease.is_some(), gone, "{dead}");
    }

    // A live process's lease (this one's: another instance in it) is not taken over.
    let other = Lease::try_acquire(db, "projector:campaigns", "third", LONG)
        .await
        .unwrap();
    assert!(other.is_none());
}
