//! The `alpes` binary: parses the command line and hands over to the library.

use alpes::cli::Cli;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    alpes::telemetry::init(cli.log_format);
    alpes::cli::run(cli).await
}
