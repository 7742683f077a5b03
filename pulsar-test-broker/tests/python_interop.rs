//! Messages cross between the official client (pulsar-client on PyPI, C++ core) and the Rust
//! one through the test broker. Skipped when Python has no `pulsar` module (tests/python/run.sh
//! installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use pulsar::SubType;

/// A Python with the `pulsar` module: $PYTHON, else the virtualenv tests/python/run.sh makes,
/// else python3 if it has the module.
fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pulsar-test-broker-venv/bin/python");
    let candidates = [
        std::env::var_os("PYTHON").map(PathBuf::from),
        Some(venv),
        Some("python3".into()),
    ];
    candidates.into_iter().flatten().find(|python| {
        let check = Command::new(python).args(["-c", "import pulsar"]).output();
        check.is_ok_and(|output| output.status.success())
    })
}

/// Runs tests/python/cross_check.py with these arguments, off the runtime that serves the
/// broker.
async fn cross_check(python: &Path, args: Vec<String>) -> Output {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/cross_check.py");
    let mut command = Command::new(python);
    command.arg(script).args(args);
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the python process ran")
        .expect("python started")
}

#[tokio::test]
async fn python_and_rust_clients_exchange_messages() {
    let Some(python) = python() else {
        eprintln!("skipped: no python with the `pulsar` module (tests/python/run.sh installs one)");
        return;
    };
    let (broker, client) = start().await;

    // python -> rust: a batch from the C++ producer, split by the Rust consumer
    let produced = cross_check(
        &python,
        vec![broker.url(), "produce".into(), "from-python".into(), "3".into()],
    )
    .await;
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );
    let mut consumer = consumer(&client, "from-python", "rust", SubType::Exclusive).await;
    for i in 0..3 {
        let message = next(&mut consumer).await;
        assert_eq!(text(&message), format!("py-{i}"));
        assert_eq!(message.key(), Some(format!("k{i}")));
        let properties = &message.metadata().properties;
        assert!(properties
            .iter()
            .any(|p| p.key == "source" && p.value == "python"));
        consumer.ack(&message).await.unwrap();
    }
    assert_eq!(
        broker.entries("from-python").len(),
        1,
        "the C++ producer batched them"
    );

    // rust -> python
    let mut producer = producer(&client, "from-rust").await;
    for i in 0..3 {
        producer
            .create_message()
            .with_content(format!("rs-{i}"))
            .with_key(format!("k{i}"))
            .with_property("source", "rust")
            .send_non_blocking()
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let consumed = cross_check(
        &python,
        vec![broker.url(), "consume".into(), "from-rust".into(), "3".into()],
    )
    .await;
    assert!(
        consumed.status.success(),
        "{}",
        String::from_utf8_lossy(&consumed.stderr)
    );
    let stdout = String::from_utf8_lossy(&consumed.stdout);
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("received "))
        .collect();
    assert_eq!(lines, ["rs-0|k0|rust", "rs-1|k1|rust", "rs-2|k2|rust"]);
}
