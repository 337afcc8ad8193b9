//! `devassist-engine`: the engine as a stand-alone binary (the same code as `devassist
//! engine`), used by the integration tests and the benchmark.

use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "devassist-engine",
    version,
    about = "Serve one GGUF model over an OpenAI-compatible API"
)]
struct Cli {
    #[command(flatten)]
    args: devassist_engine::EngineArgs,
}

fn main() -> ExitCode {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("DEVASSIST_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(devassist_engine::DEFAULT_LOG_FILTER)
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    devassist_engine::run(Cli::parse().args)
}
