//! The Pulsar token on the command line (`--pulsar-token`/`PULSAR_TOKEN`,
//! `--pulsar-token-file`/`PULSAR_TOKEN_FILE`): accepted by `serve`, `relay` and
//! `tracking`, read from its file, and never shown, not in `--help` nor in the errors.
//! The environment is only set on child processes (the `alpes` binary): setting it here
//! would leak into the other tests of this binary.

use alpes::cli::{Cli, Command, PulsarAuthArgs};
use clap::Parser;
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "eyJhbGciOiJIUzI1NiJ9.s3cr3t-t0ken";

/// The Pulsar arguments of `alpes <args>`.
fn pulsar_auth(args: &[&str]) -> PulsarAuthArgs {
    let cli = Cli::try_parse_from(std::iter::once("alpes").chain(args.iter().copied()))
        .unwrap_or_else(|error| panic!("{args:?} parses: {error}"));
    match cli.command {
        Some(Command::Serve(args)) => args.pulsar_auth,
        Some(Command::Relay(args)) => args.pulsar_auth,
        Some(Command::Tracking(args)) => args.pulsar_auth,
        other => panic!("not a command with Pulsar arguments: {other:?}"),
    }
}

/// A file of its own in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn with(content: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("alpes-pulsar-token-{}", uuid::Uuid::now_v7()));
        std::fs::write(&path, content).expect("a temporary file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn serve_relay_and_tracking_take_the_token() {
    for command in [
        &["serve"][..],
        &["relay", "--pulsar-url", "pulsar://broker:6650"],
        &["tracking"],
    ] {
        let args: Vec<&str> = command
            .iter()
            .copied()
            .chain(["--pulsar-token", SECRET])
            .collect();
        let token = pulsar_auth(&args).token().expect("a token").expect("given");
        assert_eq!(token.expose_secret(), SECRET, "{command:?}");
    }
}

#[test]
fn without_a_token_there_is_none() {
    let token = pulsar_auth(&["relay", "--pulsar-url", "pulsar://broker:6650"])
        .token()
        .expect("no token is fine");
    assert!(token.is_none());
}

#[test]
fn the_token_file_is_read_and_trimmed() {
    let file = TempFile::with(format!("  {SECRET}\n").as_bytes());
    let token = pulsar_auth(&["tracking", "--pulsar-token-file", file.path()])
        .token()
        .expect("the file is read")
        .expect("a token");
    assert_eq!(token.expose_secret(), SECRET);
}

#[test]
fn a_missing_token_file_is_an_error_naming_it() {
    let missing = std::env::temp_dir().join("alpes-no-such-token-file");
    let error = pulsar_auth(&["serve", "--pulsar-token-file", missing.to_str().unwrap()])
        .token()
        .expect_err("a missing file is an error");
    assert!(
        format!("{error:#}").contains(missing.to_str().unwrap()),
        "{error:#}"
    );
}

#[test]
fn an_unreadable_token_file_is_an_error_naming_it_not_showing_its_content() {
    // Not UTF-8: the file is there but cannot be read as a token.
    let mut content = SECRET.as_bytes().to_vec();
    content.push(0xFF);
    let file = TempFile::with(&content);
    let error = pulsar_auth(&[
        "relay",
        "--pulsar-url",
        "pulsar://b:6650",
        "--pulsar-token-file",
        file.path(),
    ])
    .token()
    .expect_err("an unreadable file is an error");
    let shown = format!("{error:#} {error:?}");
    assert!(shown.contains(file.path()), "{shown}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[test]
fn a_blank_token_is_an_error() {
    let file = TempFile::with(b" \n\t\n");
    let error = pulsar_auth(&["tracking", "--pulsar-token-file", file.path()])
        .token()
        .expect_err("an empty file is an error");
    assert!(error.to_string().contains(file.path()), "{error}");
    assert!(error.to_string().contains("empty"), "{error}");

    let error = pulsar_auth(&["tracking", "--pulsar-token", "  "])
        .token()
        .expect_err("a blank token is an error");
    assert!(error.to_string().contains("--pulsar-token"), "{error}");
}

#[test]
fn the_token_and_a_token_file_conflict() {
    let file = TempFile::with(SECRET.as_bytes());
    let both = [
        "alpes",
        "tracking",
        "--pulsar-token",
        SECRET,
        "--pulsar-token-file",
        file.path(),
    ];
    let error = Cli::try_parse_from(both).expect_err("one or the other");
    assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
}

#[test]
fn the_parsed_arguments_do_not_show_the_token() {
    let printed = format!("{:?}", pulsar_auth(&["tracking", "--pulsar-token", SECRET]));
    assert!(!printed.contains("s3cr3t"), "{printed}");
}

/// `alpes <args>` with the Pulsar and database variables of this environment removed and
/// these set; its output once it exits, within seconds (else it is killed and the test
/// fails: the command was meant to stop at once).
fn alpes(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_alpes"));
    command.args(args);
    for name in ["PULSAR_URL", "PULSAR_TOKEN", "PULSAR_TOKEN_FILE", "DATABASE_URL"] {
        command.env_remove(name);
    }
    // Should it get as far as the embedded database, not in the working directory.
    command.env(
        "ALPES_DATA_DIR",
        std::env::temp_dir().join("alpes-pulsar-auth-tests"),
    );
    command.envs(env.iter().copied());
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("alpes runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("alpes is waited for").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("alpes {args:?} still runs after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("alpes's output")
}

#[test]
fn help_names_the_token_variables_but_never_shows_the_token() {
    for subcommand in ["serve", "relay", "tracking"] {
        let output = alpes(&[subcommand, "--help"], &[("PULSAR_TOKEN", SECRET)]);
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("--pulsar-token <"), "{help}");
        assert!(help.contains("--pulsar-token-file <"), "{help}");
        assert!(help.contains("PULSAR_TOKEN"), "{help}");
        assert!(help.contains("PULSAR_TOKEN_FILE"), "{help}");
        assert!(!help.contains("s3cr3t"), "{help}");
    }
}

#[test]
fn both_variables_set_stop_the_start_without_showing_the_token() {
    let file = TempFile::with(SECRET.as_bytes());
    let output = alpes(
        &["relay", "--pulsar-url", "pulsar://127.0.0.1:1"],
        &[("PULSAR_TOKEN", SECRET), ("PULSAR_TOKEN_FILE", file.path())],
    );
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

#[test]
fn an_unreadable_token_file_stops_the_start_naming_it() {
    let missing = std::env::temp_dir().join("alpes-no-such-token-file");
    let missing = missing.to_str().unwrap();
    // Nothing is listening on port 1, and the token is read before anything connects.
    let output = alpes(
        &["relay", "--pulsar-url", "pulsar://127.0.0.1:1"],
        &[("PULSAR_TOKEN_FILE", missing)],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("reading the Pulsar token file {missing}")),
        "{stderr}"
    );
}
