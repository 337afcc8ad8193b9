//! `devassist engine`: serve one GGUF model with the embedded llama.cpp engine. The flags and
//! the server live in `devassist-engine`; this file only sets up logging and hands over.

use std::io::IsTerminal;
use std::process::ExitCode;

pub use devassist_engine::EngineArgs;

pub fn run(args: EngineArgs) -> ExitCode {
    // Quiet by default (the gateway reads our stdout for the readiness line; logs go to
    // stderr); `DEVASSIST_LOG` overrides. A subscriber set up elsewhere wins.
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("DEVASSIST_LOG").unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(devassist_engine::DEFAULT_LOG_FILTER)
        });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    devassist_engine::run(args)
}
