//! `alpes serve` as a separate process, as it is deployed: the HTTP benchmarks load
//! it over loopback with an admin token on every request, and its peak resident memory
//! is read from `/proc`.

use crate::credentials::Credentials;
use anyhow::Context;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub base: String,
    /// A client whose requests carry the server's admin token.
    pub client: reqwest::Client,
    child: Child,
}

/// The `alpes` binary beside this one (same profile), built first if it is missing.
pub(crate) fn alpes_binary() -> anyhow::Result<PathBuf> {
    let dir = std::env::current_exe()?
        .parent()
        .context("bench has no directory")?
        .to_path_buf();
    let binary = dir.join("alpes");
    if !binary.exists() {
        let mut args = vec!["build", "--bin", "alpes"];
        if !cfg!(debug_assertions) {
            args.push("--release");
        }
        eprintln!("building the alpes binary (cargo {})", args.join(" "));
        let status = Command::new(env!("CARGO")).args(&args).status()?;
        anyhow::ensure!(status.success(), "cargo build --bin alpes failed");
    }
    Ok(binary)
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Starts `alpes serve` over `database_url`, with its own secret, and waits until
    /// it is ready.
    pub async fn start(database_url: &str) -> anyhow::Result<Self> {
        let port = free_port()?;
        let binary = alpes_binary()?;
        let credentials = Credentials::issued_by(&binary)?;
        let child = credentials
            .configure(&mut Command::new(&binary))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("ALPES_BIND", format!("127.0.0.1:{port}"))
            .env("ALPES_DB_MAX_CONNECTIONS", "32")
            // The write path and views, as the baselines: no relay.
            .env("ALPES_NO_RELAY", "true")
            // The load comes from one address, far above any per-client limit.
            .env("ALPES_RATE_LIMIT", "off")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting alpes")?;
        let server = Server {
            base: format!("http://127.0.0.1:{port}"),
            client: credentials.client()?,
            child,
        };
        let client = &server.client;
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("{}/ready", server.base))
            .send()
            .await
            .map(|r| r.status().is_success())
            .ok()
            != Some(true)
        {
            anyhow::ensure!(Instant::now() < deadline, "alpes did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// Peak resident set size so far (`VmHWM`), in MiB.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmHWM in /proc status")?;
        Ok(kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
