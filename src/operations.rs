//! `alpes projections status|rebuild`: operating the read models from a terminal,
//! straight against the database (no server needed); `alpes token issue`: a bearer
//! token signed with the configured secret.

use crate::cli::{IssueArgs, ProjectionsCommand};
use crate::settings::AuthSettings;
use anyhow::bail;
use auth::{Issuer, Principal, Role};
use projections::rebuild::{self, RebuildProgress};
use projections::{Projections, ProjectorSettings};
use secrecy::ExposeSecret;
use std::io::Write;
use store::LogWaker;

pub async fn projections(command: ProjectionsCommand) -> anyhow::Result<()> {
    let database = match &command {
        ProjectionsCommand::Status(database) | ProjectionsCommand::Rebuild { database, .. } => {
            database.clone()
        }
    }
    .settings();
    let db = database.open().await?;
    // Handles only: this process runs no projector.
    let (projections, _not_run) = Projections::new(
        &db,
        &LogWaker::never(),
        &ProjectorSettings::default(),
        aggregates::upcasters::all,
    );

    match command {
        ProjectionsCommand::Status(_) => {
            println!(
                "{:<12} {:<11} {:>12} {:>12} {:>10}  LAST ERROR",
                "NAME", "STATE", "CHECKPOINT", "HEAD", "LAG"
            );
            for handle in projections.all() {
                let status = handle.status().await?;
                println!(
                    "{:<12} {:<11} {:>12} {:>12} {:>10}  {}",
                    status.name,
                    status.state.as_str(),
                    status.checkpoint,
                    status.head,
                    status.lag,
                    status.last_error.unwrap_or_default()
                );
            }
            Ok(())
        }
        ProjectionsCommand::Rebuild { name, .. } => {
            let Some(handle) = projections.get(&name) else {
                let known: Vec<_> = projections.all().iter().map(|h| h.name()).collect();
                bail!("no projection named '{name}' (known: {})", known.join(", "));
            };
            let report = rebuild::rebuild(handle, |progress| show_progress(&name, progress)).await?;
            eprintln!();
            println!(
                "rebuilt {name}: {} events in {:.1}s ({:.0} events/s), swapped in",
                report.events,
                report.elapsed.as_secs_f64(),
                report.events_per_second
            );
            Ok(())
        }
    }
}

/// One line, rewritten in place: `campaigns [#####.....] 52% 104000/200000 events, 61200 events/s, ETA 2s`.
fn show_progress(name: &str, progress: &RebuildProgress) {
    let fraction = if progress.total == 0 {
        1.0
    } else {
        progress.applied as f64 / progress.total as f64
    };
    let filled = (fraction * 30.0).round() as usize;
    let eta = progress
        .eta
        .map(|eta| format!("ETA {}s", eta.as_secs()))
        .unwrap_or_default();
    eprint!(
        "\r{name} [{}{}] {:>3.0}% {}/{} events, {:.0} events/s, {eta}   ",
        "#".repeat(filled.min(30)),
        ".".repeat(30 - filled.min(30)),
        fraction * 100.0,
        progress.applied,
        progress.total,
        progress.events_per_second
    );
    let _ = std::io::stderr().flush();
}

/// Prints a token for the principal `args` describe, signed with the configured secret
/// (or the embedded default's, generated if this is the first use).
pub fn issue_token(args: IssueArgs) -> anyhow::Result<()> {
    let backend = match &args.database_url {
        Some(url) => store::Backend::of_url(url.expose_secret()).ok_or_else(|| {
            anyhow::anyhow!("DATABASE_URL must start with postgres://, postgresql:// or sqlite://")
        })?,
        None => store::Backend::Sqlite,
    };
    let settings = args.auth.settings(backend, &args.data_dir)?;
    // Only a secret a server uses: a missing one (another directory?) is not made here,
    // where it would sign tokens no server accepts.
    if let AuthSettings::EmbeddedSecret { data_dir, .. } = &settings {
        let path = data_dir.join(auth::SECRET_FILE);
        if !path.exists() {
            bail!(
                "no token secret at {}: start `alpes serve` once with this --data-dir (it creates \
                 it), or set ALPES_JWT_SECRET",
                path.display()
            );
        }
    }
    let Some(tokens) = settings.tokens()? else {
        bail!("authentication is off (--insecure-no-auth): there is no token to issue");
    };
    let sub = args.sub.unwrap_or_else(|| format!("cli-{}", args.role));
    let principal = Principal {
        brand_id: args.brand_id.filter(|_| args.role == Role::Brand),
        partner_id: args.partner_id.filter(|_| args.role == Role::Partner),
        ..Principal::new(sub, args.role)
    };
    let token = Issuer::new(&tokens.settings)?.issue(&principal, args.ttl)?;
    println!("{token}");
    Ok(())
}
