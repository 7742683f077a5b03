//! [`RelayLock`]: one relay of a name at a time, on both backends; on SQLite the lease row's
//! own rules (a relay retakes its own lease, an expired one is taken over and its former
//! holder learns it, a check that cannot write in time fails).

mod common;

use bus::lock::{LockError, RelayLock};
use common::TestDb;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_relays_lock_is_held_by_one_relay_at_a_time_and_released_for_the_next() {
    let db = TestDb::new().await;
    let mut first = RelayLock::connect(&db.db, LONG, "relay-1").await.unwrap();
    let mut second = RelayLock::connect(&db.db, LONG, "relay-2").await.unwrap();
    assert!(first.try_acquire("in-process").await.unwrap());
    assert!(
        first.try_acquire("in-process").await.unwrap(),
        "taken again by its holder"
    );
    assert!(!second.try_acquire("in-process").await.unwrap());
    assert!(
        second.try_acquire("pulsar").await.unwrap(),
        "relays of other names do not exclude each other"
    );
    first.check(Duration::from_secs(2)).await.unwrap();

    first.release().await;
    assert!(second.try_acquire("in-process").await.unwrap());
    second.release().await;
}

#[tokio::test]
async fn a_relay_takes_its_own_lease_back_but_not_another_relays_on_sqlite() {
    let db = TestDb::sqlite().await;
    let mut lock = RelayLock::connect(&db.db, LONG, "relay-1").await.unwrap();
    assert!(lock.try_acquire("in-process").await.unwrap());
    // The same relay gave that lock up (a check timed out) and locks again: the lease,
    // still valid, is its own.
    drop(lock);
    let mut again = RelayLock::connect(&db.db, LONG, "relay-1").await.unwrap();
    assert!(again.try_acquire("in-process").await.unwrap());
    let mut other = RelayLock::connect(&db.db, LONG, "relay-2").await.unwrap();
    assert!(!other.try_acquire("in-process").await.unwrap());
    again.check(Duration::from_secs(2)).await.unwrap();
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_its_former_holder_learns_it_on_sqlite() {
    let db = TestDb::sqlite().await;
    let mut dead = RelayLock::connect(&db.db, Duration::from_millis(50), "relay-1")
        .await
        .unwrap();
    assert!(dead.try_acquire("in-process").await.unwrap());
    let mut successor = RelayLock::connect(&db.db, LONG, "relay-2").await.unwrap();
    assert!(!successor.try_acquire("in-process").await.unwrap());

    tokio::time::sleep(Duration::from_millis(100)).await; // relay-1 stopped renewing
    assert!(successor.try_acquire("in-process").await.unwrap());
    let error = dead.check(Duration::from_secs(2)).await.unwrap_err();
    assert!(matches!(error, LockError::LeaseLost(_)), "{error}");
    successor.check(Duration::from_secs(2)).await.unwrap();
}

#[tokio::test]
async fn a_lease_that_cannot_be_renewed_in_time_fails_its_check_on_sqlite() {
    let db = TestDb::sqlite().await;
    let mut lock = RelayLock::connect(&db.db, LONG, "relay-1").await.unwrap();
    assert!(lock.try_acquire("in-process").await.unwrap());
    // Another writer of this process holds the writer turn.
    let busy = db.db.as_sqlite().unwrap().begin_write().await.unwrap();
    let error = lock.check(Duration::from_millis(100)).await.unwrap_err();
    assert!(matches!(error, LockError::Timeout), "{error}");
    drop(busy);
    lock.check(Duration::from_secs(2)).await.unwrap();
}
