//! The `alpes` binary as a new user starts it: the embedded default's first start (a
//! private secret, a ready admin token, the same secret on later starts), `alpes token
//! issue`, Postgres without a key, and `--insecure-no-auth`.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `alpes` with none of this environment's configuration, its data in `data_dir`.
fn alpes(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_alpes"));
    command.args(args);
    for name in [
        "DATABASE_URL",
        "PULSAR_URL",
        "ALPES_JWT_SECRET",
        "ALPES_JWT_PUBLIC_KEY",
        "ALPES_INSECURE_NO_AUTH",
        "ALPES_BIND",
    ] {
        command.env_remove(name);
    }
    command
        .env("ALPES_DATA_DIR", data_dir)
        .env("ALPES_LOG_FORMAT", "json");
    command
}

/// A data directory of its own, removed afterwards.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> DataDir {
        DataDir(std::env::temp_dir().join(format!("alpes-first-start-{}", uuid::Uuid::now_v7())))
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `alpes serve`: where it listens, and the admin token it printed, if any.
struct Server {
    child: Child,
    address: String,
    printed_token: Option<String>,
    lines: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `alpes serve --bind <bind>` and reads its output until it listens (20 s at
/// most).
fn serve(data_dir: &Path, bind: &str, extra: &[&str]) -> Server {
    let mut args = vec!["serve", "--bind", bind];
    args.extend_from_slice(extra);
    let child = alpes(data_dir, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("alpes starts");
    // Owned at once, so that it is killed and waited for whatever happens next.
    let mut server = Server {
        child,
        address: String::new(),
        printed_token: None,
        lines: Vec::new(),
    };
    let (lines_tx, lines_rx) = mpsc::channel();
    let stdout = server.child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines_rx.recv_timeout(left) else {
            panic!("alpes never listened: {:#?}", server.lines);
        };
        if let Some(token) = line.strip_prefix("ALPES_TOKEN=") {
            server.printed_token = Some(token.to_owned());
        }
        let address = serde_json::from_str::<Value>(&line)
            .ok()
            .filter(|log| log["message"] == "listening")
            .and_then(|log| log["address"].as_str().map(str::to_owned));
        server.lines.push(line);
        if let Some(address) = address {
            server.address = format!("http://{address}");
            return server;
        }
    }
}

async fn status(server: &Server, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/campaigns", server.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_first_start_keeps_a_private_secret_prints_an_admin_token_and_later_starts_reuse_it() {
    let data = DataDir::new();
    let first = serve(&data.0, "127.0.0.1:0", &[]);
    let token = first
        .printed_token
        .clone()
        .expect("the first start prints a token");
    assert_eq!(status(&first, &token).await, 200);
    // Without it: refused.
    let anonymous = reqwest::get(format!("{}/campaigns", first.address))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let secret_file = data.0.join("jwt-secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The token is printed, never logged.
    let logs: Vec<&String> = first.lines.iter().filter(|line| line.starts_with('{')).collect();
    assert!(logs.iter().all(|line| !line.contains(&token)));
    drop(first);

    let second = serve(&data.0, "127.0.0.1:0", &[]);
    assert_eq!(second.printed_token, None, "only the first start prints a token");
    assert_eq!(std::fs::read_to_string(&secret_file).unwrap(), secret);
    assert_eq!(
        status(&second, &token).await,
        200,
        "the same secret, so the same tokens"
    );

    // `alpes token issue` signs with the same secret.
    let issued = alpes(
        &data.0,
        &[
            "token",
            "issue",
            "--role",
            "brand",
            "--brand-id",
            "b-1",
            "--ttl",
            "1h",
        ],
    )
    .output()
    .unwrap();
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let brand_token = String::from_utf8(issued.stdout).unwrap().trim().to_owned();
    assert_eq!(status(&second, &brand_token).await, 200);
    let admin_only = reqwest::Client::new()
        .post(format!("{}/admin/projections/campaigns/retry", second.address))
        .bearer_auth(&brand_token)
        .send()
        .await
        .unwrap();
    assert_eq!(admin_only.status(), 403);
}

#[test]
fn a_brand_token_needs_its_brand() {
    let data = DataDir::new();
    let output = alpes(&data.0, &["token", "issue", "--role", "brand"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let output = alpes(&data.0, &["token", "issue", "--role", "root"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
}

#[test]
fn on_postgres_without_a_key_serve_and_tracking_refuse_to_start() {
    let data = DataDir::new();
    for subcommand in ["serve", "tracking"] {
        let output = alpes(&data.0, &[subcommand])
            .env(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/alpes_never_created",
            )
            .output()
            .unwrap();
        assert!(!output.status.success(), "{subcommand} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("ALPES_JWT_SECRET"), "{subcommand}: {stderr}");
        assert!(stderr.contains("--insecure-no-auth"), "{subcommand}: {stderr}");
    }
    assert!(
        !data.0.join("jwt-secret").exists(),
        "no secret is generated for Postgres"
    );
}

#[tokio::test]
async fn without_authentication_it_listens_on_loopback_only_and_says_so() {
    let data = DataDir::new();
    let server = serve(&data.0, "0.0.0.0:0", &["--insecure-no-auth"]);
    assert!(
        server.address.starts_with("http://127.0.0.1:"),
        "{}",
        server.address
    );
    assert!(
        server
            .lines
            .iter()
            .any(|line| line.contains("authentication is OFF")),
        "{:#?}",
        server.lines
    );
    let anonymous = reqwest::get(format!("{}/campaigns", server.address))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 200);
    assert!(!data.0.join("jwt-secret").exists());
}

#[test]
fn a_token_is_issued_only_with_a_secret_a_server_uses() {
    let data = DataDir::new();
    let output = alpes(&data.0, &["token", "issue", "--role", "admin"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no token secret at"), "{stderr}");
    assert!(!data.0.join("jwt-secret").exists(), "none is made here");
    // With ALPES_JWT_SECRET: signed with it.
    let output = alpes(&data.0, &["token", "issue", "--role", "reader"])
        .env("ALPES_JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes!!")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap().matches('.').count(),
        2,
        "a JWT"
    );
    // A lifetime that overflows is a usage error, not a panic.
    let output = alpes(
        &data.0,
        &[
            "token",
            "issue",
            "--role",
            "reader",
            "--ttl",
            "99999999999999999h",
        ],
    )
    .env("ALPES_JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes!!")
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn an_open_bff_must_say_whom_it_acts_as() {
    let data = DataDir::new();
    let output = alpes(&data.0, &["serve", "--bff-open"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ALPES_BFF_ROLE"), "{stderr}");
}

#[test]
fn a_key_that_cannot_be_used_stops_the_start_saying_why() {
    let data = DataDir::new();
    let short = alpes(&data.0, &["serve"])
        .env("ALPES_JWT_SECRET", "too-short")
        .output()
        .unwrap();
    assert!(!short.status.success());
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(stderr.contains("at least 32"), "{stderr}");
    assert!(
        !stderr.contains("too-short"),
        "the secret is never shown: {stderr}"
    );
    let missing = data.0.join("no-such-key.pem");
    let output = alpes(&data.0, &["serve"])
        .env("ALPES_JWT_PUBLIC_KEY", &missing)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("reading the JWT public key"), "{stderr}");
}
