//! The `devassist` binary: command line, logging set-up and wiring. Each subcommand lives in
//! its own file under `commands/`.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "devassist",
    version,
    about = "Self-hosted AI gateway for coding assistants"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(commands::serve::ServeArgs),
    /// Inspect configuration files.
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Build and search offline documentation indexes.
    #[command(subcommand)]
    Docs(commands::docs::DocsCommand),
    /// Show every backend's state (cold, starting, ready…) on a running gateway.
    Status(commands::status::StatusArgs),
    /// Run a backend process so that it never outlives the gateway (used by `serve`).
    #[command(hide = true)]
    Supervise(commands::supervise::SuperviseArgs),
    /// Serve one GGUF model with the embedded llama.cpp engine (OpenAI-compatible API).
    #[cfg(feature = "engine")]
    Engine(commands::engine::EngineArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Config(cmd) => commands::config::run(cmd),
        Command::Docs(cmd) => commands::docs::run(cmd),
        Command::Status(args) => commands::status::run(args),
        Command::Supervise(args) => commands::supervise::run(args),
        #[cfg(feature = "engine")]
        Command::Engine(args) => commands::engine::run(args),
    }
}
