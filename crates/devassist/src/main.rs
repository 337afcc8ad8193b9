//! The `devassist` binary: command line, logging set-up and wiring. Each subcommand lives in
//! its own file under `commands/`.

mod commands;

/// jemalloc, with its background thread returning freed memory to the system after about
/// a second. With glibc's malloc, the memory of a burst of connections stayed taken for
/// good (1,000 RPS of refused requests for 10 s: 11 → 14.3 MiB RSS a minute later; with
/// jemalloc 12.9 → 13.7 MiB after 30 s, `make bench-overload`). The `system-alloc` feature
/// leaves it out, for heap profilers that only see the system allocator (heaptrack).
/// Its options are built in (`.cargo/config.toml`, `JEMALLOC_SYS_WITH_MALLOC_CONF`).
#[cfg(all(unix, not(feature = "system-alloc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
    /// Create, list, rotate and revoke API keys.
    Keys(commands::keys::KeysArgs),
    /// Show every backend's state (cold, starting, ready…) on a running gateway.
    Status(commands::status::StatusArgs),
    /// Sum up the usage records: requests and tokens per key, user, model, feature or surface.
    Usage(commands::usage::UsageArgs),
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
        Command::Keys(args) => commands::keys::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Usage(args) => commands::usage::run(args),
        Command::Supervise(args) => commands::supervise::run(args),
        #[cfg(feature = "engine")]
        Command::Engine(args) => commands::engine::run(args),
    }
}
