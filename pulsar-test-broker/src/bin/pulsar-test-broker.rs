//! Runs the test broker on its own, for clients in other languages (the Python cross-check).
//!
//! Usage: `pulsar-test-broker [--port PORT]` (default: any free port). Prints the service URL
//! on the first line of stdout, then serves until interrupted (Ctrl-C or SIGTERM). Logs go to
//! stderr, filtered by `RUST_LOG` (default `info`).

use std::net::SocketAddr;
use std::process::ExitCode;

use pulsar_test_broker::TestBroker;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port = match parse_port(std::env::args().skip(1).collect()) {
        Ok(port) => port,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let broker = match TestBroker::bind(SocketAddr::from(([127, 0, 0, 1], port))).await {
        Ok(broker) => broker,
        Err(e) => {
            eprintln!("cannot listen on port {port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // the URL on stdout is how scripts learn the port when it was chosen here
    println!("{}", broker.url());
    shutdown_signal().await;
    ExitCode::SUCCESS
}

fn parse_port(args: Vec<String>) -> Result<u16, String> {
    let usage = "usage: pulsar-test-broker [--port PORT]".to_string();
    match args.as_slice() {
        [] => Ok(0),
        [flag, port] if flag == "--port" => port.parse().map_err(|_| usage),
        _ => Err(usage),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
