//! The contract test: the property-based tester `schemathesis` generates requests
//! from `GET /openapi.json` (valid ones and invalid ones, then chains of calls along
//! the document's links) against the running application, and fails on any 5xx,
//! undocumented status, content type or header, or disagreement between a schema and
//! what the server accepts or answers.
//!
//! `scripts/test` installs schemathesis in a virtualenv under the target directory
//! (`target/tmp/schemathesis-venv`). Without it this test is skipped with a message,
//! except in CI (`CI` set), where it fails. `ALPES_CONTRACT_SEED` and
//! `ALPES_CONTRACT_EXAMPLES` change the seed and the number of examples per operation.

use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// Fixed, so that a run is repeatable (the generated requests depend on it).
const DEFAULT_SEED: &str = "20251113";
/// Examples per operation and phase: enough to cover every documented status of every
/// operation, few enough for about a minute per backend.
const DEFAULT_EXAMPLES: &str = "30";

/// The schemathesis CLI: `$SCHEMATHESIS`, else the virtualenv `scripts/test` makes,
/// else one on the PATH.
fn schemathesis() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv/bin/schemathesis");
    let candidates = [
        std::env::var_os("SCHEMATHESIS").map(PathBuf::from),
        Some(venv),
        Some("schemathesis".into()),
    ];
    candidates.into_iter().flatten().find(|program| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|output| output.status.success())
    })
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::test]
async fn the_server_keeps_its_published_contract() {
    let Some(program) = schemathesis() else {
        let message = "schemathesis is not installed: run scripts/test, which installs it \
                       in target/tmp/schemathesis-venv";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("skipped: {message}");
        return;
    };
    let app = spawn_app().await;
    let seed = setting("ALPES_CONTRACT_SEED", DEFAULT_SEED);
    let examples = setting("ALPES_CONTRACT_EXAMPLES", DEFAULT_EXAMPLES);
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/schemathesis.toml");
    // Schemathesis writes its working files where it runs: a directory of its own.
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("contract-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&work).expect("a working directory");

    let started = Instant::now();
    let output = run(&program, &work, &config, &app.address, &seed, &examples).await;
    let elapsed = started.elapsed();
    let _ = std::fs::remove_dir_all(&work);

    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    println!(
        "schemathesis: seed {seed}, {examples} examples per operation, {:.1} s (rerun with \
         ALPES_CONTRACT_SEED={seed})",
        elapsed.as_secs_f64()
    );
    assert!(
        output.status.success(),
        "the server broke its contract (seed {seed}); schemathesis's report:\n{report}"
    );
}

/// Runs every phase and every check against the app; off the runtime that serves it.
async fn run(
    program: &Path,
    work: &Path,
    config: &Path,
    address: &str,
    seed: &str,
    examples: &str,
) -> Output {
    let mut command = Command::new(program);
    command
        .current_dir(work)
        .arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(format!("{address}/openapi.json"))
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--seed", seed])
        .args(["--max-examples", examples])
        // Two workers: the machine's cores are shared with the server under test.
        .args(["--workers", "2"])
        // Nothing kept between runs: the same seed generates the same requests.
        .args(["--generation-database", "none"])
        .args(["--request-timeout", "15"])
        // An admin's token: every operation is open to it. (Schemathesis's
        // `ignored_auth` check also sends each operation without it, and expects 401.)
        .arg("--header")
        .arg(format!("Authorization: Bearer {}", token(&test_admin())))
        .arg("--no-color")
        .env("NO_COLOR", "1");
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("schemathesis ran")
        .expect("schemathesis started")
}
