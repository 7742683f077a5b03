//! The soak's child processes: `alpes serve`, `alpes tracking` and `alpes relay`, each
//! started, `kill -9`ed and started again as a supervisor would, with its peak resident
//! memory followed over all its lives.

use crate::credentials::Credentials;
use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How every `alpes` process of the system is started, first time or after a kill: the
/// binary under test, with the system's token secret.
pub struct Alpes {
    pub binary: PathBuf,
    pub credentials: Credentials,
}

/// One service of the system, run as a child process of the soak.
pub struct Service {
    pub name: &'static str,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Where its readiness is asked (`GET`), if it serves HTTP.
    ready_url: Option<String>,
    log: PathBuf,
    child: Option<Child>,
    /// How many times it was started.
    pub lives: u32,
    /// How many times it ended without being killed by the soak: each is a crash.
    pub unexpected_exits: u32,
    /// The highest `VmHWM` seen over all its lives, in KiB.
    pub peak_rss_kib: u64,
}

impl Service {
    pub fn new(
        name: &'static str,
        args: &[&str],
        env: Vec<(String, String)>,
        ready_url: Option<String>,
        log_dir: &Path,
    ) -> Self {
        Service {
            name,
            args: args.iter().map(|arg| arg.to_string()).collect(),
            env,
            ready_url,
            log: log_dir.join(format!("{}.log", name.replace(' ', "-"))),
            child: None,
            lives: 0,
            unexpected_exits: 0,
            peak_rss_kib: 0,
        }
    }

    /// Starts it (its output appended to its log file) and, when it serves HTTP, waits
    /// until it answers `ready_url` (asked by `client`, with the admin token) with a 2xx,
    /// for at most 60 s.
    pub async fn start(&mut self, alpes: &Alpes, client: &reqwest::Client) -> anyhow::Result<()> {
        let log = self.log_file()?;
        let child = alpes
            .credentials
            .configure(&mut Command::new(&alpes.binary))
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        self.child = Some(child);
        self.lives += 1;
        let Some(url) = &self.ready_url else {
            return Ok(());
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = client.get(url).timeout(Duration::from_secs(2)).send().await;
            if answer.is_ok_and(|answer| answer.status().is_success()) {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} was not ready within 60 s (see {})",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_file(&self) -> anyhow::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// `kill -9`, after a last look at its memory. `Child::kill` sends SIGKILL on Unix:
    /// no shutdown hook runs, as in a crash or an OOM kill.
    pub fn kill(&mut self) {
        self.sample_rss();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Records its current `VmHWM` (the peak RSS of this life so far).
    pub fn sample_rss(&mut self) {
        if let Some(kib) = self.child.as_ref().and_then(|child| vm_hwm_kib(child.id())) {
            self.peak_rss_kib = self.peak_rss_kib.max(kib);
        }
    }

    /// Whether it ended on its own since the last look; counted as a crash.
    pub fn exited_on_its_own(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        match child.try_wait() {
            Ok(Some(status)) => {
                eprintln!(
                    "soak: {} exited on its own ({status}); see {}",
                    self.name,
                    self.log.display()
                );
                self.child = None;
                self.unexpected_exits += 1;
                true
            }
            _ => false,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `VmHWM` of a process from `/proc/PID/status`, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_rss_of_a_live_process_is_read_from_proc() {
        let kib = vm_hwm_kib(std::process::id()).expect("this process has a VmHWM");
        assert!(kib > 0);
        assert_eq!(vm_hwm_kib(u32::MAX), None);
    }
}
