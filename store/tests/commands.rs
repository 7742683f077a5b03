//! The `commands` table and the embedded command queue's worker against a real database
//! (the run's backend): acceptance with idempotency keys, the first outcome kept, waits,
//! withdrawal, the backlog, and a worker that runs what is queued, in order, retrying
//! what cannot run yet.

use async_trait::async_trait;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{
    CommandQueue, CommandStatus, CommandToRun, CommandWorker, IdempotencyClaim, NewCommand, Outcome,
    RunCommand, RunResult, SubmitError, Submitted,
};
use test_support::TestDb;
use uuid::Uuid;

fn command(queued: bool, key: Option<(&str, &[u8])>) -> NewCommand {
    NewCommand {
        command_id: Uuid::now_v7(),
        command_type: "alpes.command.cancel-campaign.v1".into(),
        payload: json!({"campaign_id": "c-1", "reason": "test"}),
        queued,
        idempotency: key.map(|(key, hash)| IdempotencyClaim {
            key: key.into(),
            request_hash: hash.to_vec(),
        }),
        issued_by: Some(json!({"sub": "alice", "role": "brand", "brand_id": "b-1"})),
    }
}

fn to_run(command: &NewCommand) -> CommandToRun {
    CommandToRun {
        command_id: command.command_id,
        command_type: command.command_type.clone(),
        payload: command.payload.clone(),
        issued_by: command.issued_by.clone(),
    }
}

#[tokio::test]
async fn a_command_keeps_who_issued_it() {
    let db = TestDb::new().await;
    let queue = CommandQueue::new(&db.db);
    let accepted = command(true, None);
    queue.submit(accepted.clone()).await.unwrap();
    let found = queue.find(accepted.command_id).await.unwrap().unwrap();
    assert_eq!(found.issued_by, accepted.issued_by);
    // Accepted elsewhere and completed here: stored with its issuer too.
    let foreign = command(false, None);
    queue
        .complete(&to_run(&foreign), &Outcome::Succeeded(json!({})))
        .await
        .unwrap();
    let found = queue.find(foreign.command_id).await.unwrap().unwrap();
    assert_eq!(found.issued_by, foreign.issued_by);
}

#[tokio::test]
async fn a_command_is_accepted_once_per_idempotency_key() {
    let db = TestDb::new().await;
    let queue = CommandQueue::new(&db.db);

    let first = queue.submit(command(true, Some(("k-1", b"a")))).await.unwrap();
    let retry = queue.submit(command(true, Some(("k-1", b"a")))).await.unwrap();
    let other = queue.submit(command(true, Some(("k-1", b"b")))).await;

    let Submitted::Accepted(first) = first else {
        panic!("accepted first")
    };
    assert_eq!(retry, Submitted::Replayed(first.clone()));
    assert!(matches!(other, Err(SubmitError::IdempotencyKeyReused)));
    let stored = queue.find(first.command_id).await.unwrap().unwrap();
    assert_eq!(stored, first);
    assert_eq!(stored.status, CommandStatus::Pending);
    assert_eq!(queue.find(Uuid::now_v7()).await.unwrap(), None);
}

#[tokio::test]
async fn the_first_outcome_is_kept() {
    let db = TestDb::new().await;
    let queue = CommandQueue::new(&db.db);
    let new = command(false, None);
    queue.submit(new.clone()).await.unwrap();

    let stored = queue
        .complete(&to_run(&new), &Outcome::Succeeded(json!({"n": 1})))
        .await
        .unwrap();
    let again = queue
        .complete(&to_run(&new), &Outcome::Failed(json!({"status": 422})))
        .await
        .unwrap();

    assert!(stored);
    assert!(!again);
    let record = queue.find(new.command_id).await.unwrap().unwrap();
    assert_eq!(record.status, CommandStatus::Succeeded);
    assert_eq!(record.result, Some(json!({"n": 1})));
    assert!(record.completed_at.is_some());
    // An outcome of a command accepted elsewhere (it came on a topic) is stored with it.
    let foreign = command(false, None);
    assert!(queue
        .complete(&to_run(&foreign), &Outcome::Failed(json!({"status": 404})))
        .await
        .unwrap());
    assert_eq!(
        queue.find(foreign.command_id).await.unwrap().unwrap().status,
        CommandStatus::Failed
    );
}

#[tokio::test]
async fn waits_backlog_and_withdrawal() {
    let db = TestDb::new().await;
    let queue = CommandQueue::new(&db.db);
    let new = command(false, None);
    queue.submit(new.clone()).await.unwrap();

    let waited = queue
        .wait_for(new.command_id, Duration::from_millis(150))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waited.status, CommandStatus::Pending);
    let backlog = queue.backlog().await.unwrap();
    assert_eq!(backlog.pending, 1);
    assert!(backlog.oldest_submitted_at.is_some());
    let completer = {
        let (queue, run) = (queue.clone(), to_run(&new));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            queue
                .complete(&run, &Outcome::Succeeded(json!({})))
                .await
                .unwrap();
        })
    };
    let waited = queue
        .wait_for(new.command_id, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap();
    completer.await.unwrap();
    assert_eq!(waited.status, CommandStatus::Succeeded);
    assert_eq!(queue.backlog().await.unwrap().pending, 0);

    // Withdrawn: only while pending.
    let withdrawn = command(false, None);
    queue.submit(withdrawn.clone()).await.unwrap();
    queue.withdraw(withdrawn.command_id).await.unwrap();
    queue.withdraw(new.command_id).await.unwrap();
    assert_eq!(queue.find(withdrawn.command_id).await.unwrap(), None);
    assert!(queue.find(new.command_id).await.unwrap().is_some());
    assert_eq!(
        queue
            .wait_for(withdrawn.command_id, Duration::from_millis(10))
            .await
            .unwrap(),
        None
    );
}

/// Runs commands, answering `Retry` for the first `retries` calls.
struct Runner {
    ran: Mutex<Vec<Uuid>>,
    retries: Mutex<u32>,
}

#[async_trait]
impl RunCommand for Runner {
    async fn run(&self, command: &CommandToRun) -> RunResult {
        let mut retries = self.retries.lock().unwrap();
        if *retries > 0 {
            *retries -= 1;
            return RunResult::Retry("not now".into());
        }
        self.ran.lock().unwrap().push(command.command_id);
        RunResult::Done(Outcome::Succeeded(json!({"ran": command.command_id})))
    }
}

#[tokio::test]
async fn the_worker_runs_the_queue_in_order_and_retries_what_cannot_run_yet() {
    let db = TestDb::new().await;
    let queue = CommandQueue::new(&db.db);
    let runner = Arc::new(Runner {
        ran: Mutex::default(),
        retries: Mutex::new(2),
    });
    let commands: Vec<NewCommand> = (0..5).map(|_| command(true, None)).collect();
    for command in &commands {
        queue.submit(command.clone()).await.unwrap();
    }
    // A command carried by a broker is not the queue's to run.
    let brokered = command(false, None);
    queue.submit(brokered.clone()).await.unwrap();

    let worker = CommandWorker::new(queue.clone(), runner.clone());
    let counters = worker.counters();
    let task = worker.spawn();
    let last = commands.last().unwrap().command_id;
    let record = queue
        .wait_for(last, Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap();
    task.shutdown().await;

    assert_eq!(record.status, CommandStatus::Succeeded);
    let ran = runner.ran.lock().unwrap().clone();
    assert_eq!(ran, commands.iter().map(|c| c.command_id).collect::<Vec<_>>());
    assert_eq!(counters.snapshot().succeeded, 5);
    assert_eq!(counters.snapshot().received, 5);
    assert_eq!(
        queue.find(brokered.command_id).await.unwrap().unwrap().status,
        CommandStatus::Pending
    );
}
