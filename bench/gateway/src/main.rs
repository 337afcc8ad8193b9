//! `bench-gateway`: measures what a gateway adds to every request, direct to a mock
//! upstream vs through devassist vs through LiteLLM's proxy, in one run.
//!
//! `run` does the whole benchmark (what `make bench-gateway` calls); `mock` serves the mock
//! upstream on its own; `rate` and `streams` drive one load shape at one URL, for profiling.

mod load;
mod markdown;
mod mock;
mod plan;
mod procstat;
mod report;
mod targets;
#[cfg(test)]
mod tests;

use clap::{Parser, Subcommand};
use http::HeaderValue;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(name = "bench-gateway", about = "Gateway overhead benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every scenario against direct, devassist and LiteLLM; write gateway.{json,md}.
    Run {
        /// The devassist binary (a release build).
        #[arg(long)]
        devassist: PathBuf,
        /// LiteLLM's virtualenv (with `litellm[proxy]` installed); leave out to skip LiteLLM.
        #[arg(long)]
        litellm_venv: Option<PathBuf>,
        /// uvicorn workers for LiteLLM; default: one per core.
        #[arg(long)]
        litellm_workers: Option<usize>,
        #[arg(long, default_value = "bench/results")]
        out: PathBuf,
        /// Short phases: checks the harness end to end in about a minute.
        #[arg(long)]
        quick: bool,
        /// Run the fixed-rate and stream phases under SCHED_RR priority 1 (needs root),
        /// so other work on a shared machine does not swamp sub-millisecond figures.
        #[arg(long)]
        realtime: bool,
        /// Only the fixed-rate phases (direct, devassist and its Ollama surface interleaved;
        /// LiteLLM after them): the added-latency figures in a couple of minutes.
        #[arg(long)]
        latency_only: bool,
        /// An OpenAI-compatible upstream (base URL, e.g. nginx serving a fixed answer) to
        /// use instead of the built-in mock; needs --latency-only.
        #[arg(long)]
        upstream: Option<String>,
        /// Leave out the auth phases (devassist with API keys and a per-key limit).
        #[arg(long)]
        no_auth: bool,
        /// Add the phase with the per-key limit held in Redis (starts its own
        /// `redis-server`, which must be installed).
        #[arg(long)]
        redis: bool,
    },
    /// Render gateway.md again from a saved gateway.json (after changing the page layout).
    Render {
        #[arg(long, default_value = "bench/results/gateway.json")]
        json: PathBuf,
        #[arg(long, default_value = "bench/results/gateway.md")]
        out: PathBuf,
    },
    /// Serve the mock OpenAI upstream.
    Mock {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long, default_value_t = 64)]
        chunks: u32,
        #[arg(long, default_value = "20ms", value_parser = humantime::parse_duration)]
        interval: Duration,
    },
    /// Open-loop load at a fixed rate against one URL (non-streaming chat completions).
    Rate {
        #[arg(long)]
        url: String,
        #[arg(long)]
        rps: f64,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Keep-alive connections the requests are spread over, in turn.
        #[arg(long, default_value_t = load::CONNECTIONS)]
        connections: usize,
        #[command(flatten)]
        shape: Shape,
    },
    /// Fixed number of concurrent streams against one URL.
    Streams {
        #[arg(long)]
        url: String,
        #[arg(long)]
        concurrency: usize,
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        duration: Duration,
        #[command(flatten)]
        shape: Shape,
    },
}

#[derive(clap::Args)]
struct Shape {
    /// Speak Ollama (`/api/chat`) instead of OpenAI (`/v1/chat/completions`).
    #[arg(long)]
    ollama: bool,
    /// Bearer token to send.
    #[arg(long)]
    token: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // 1,000 streams through a gateway hold ~3,000 sockets in this process tree.
    let _ = rlimit::increase_nofile_limit(65_536);
    let result = match cli.command {
        Cmd::Render { json, out } => render(&json, &out),
        Cmd::Mock {
            listen,
            chunks,
            interval,
        } => {
            // One thread: the mock must cost as little CPU as possible.
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt
                    .block_on(mock::run(listen, mock::MockSettings { chunks, interval }))
                    .map_err(BoxError::from),
                Err(e) => Err(e.into()),
            }
        }
        Cmd::Run {
            devassist,
            litellm_venv,
            litellm_workers,
            out,
            quick,
            realtime,
            latency_only,
            upstream,
            no_auth,
            redis,
        } => {
            let opts = plan::Options {
                devassist,
                litellm_venv,
                litellm_workers: litellm_workers
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                out,
                quick,
                realtime,
                latency_only,
                upstream,
                auth: !no_auth,
                redis: redis && !no_auth,
            };
            multi_thread().and_then(|rt| {
                rt.block_on(async {
                    // Dropping the run on SIGTERM/SIGINT stops the processes it started.
                    tokio::select! {
                        r = plan::run(opts) => r.map(|_| ()),
                        () = interrupted() => Err("interrupted".into()),
                    }
                })
            })
        }
        Cmd::Rate {
            url,
            rps,
            duration,
            connections,
            shape,
        } => multi_thread().and_then(|rt| {
            rt.block_on(async {
                let target = adhoc_target(&url, &shape, false)?;
                let run = load::rate::RateRun {
                    rps,
                    duration,
                    warmup: Duration::from_secs(1),
                    timeout: plan::TIMEOUT,
                    max_in_flight: 4096,
                };
                let r = load::rate::run(&load::Clients::new(connections), &target, run).await?;
                println!("{}", serde_json::to_string_pretty(&r)?);
                Ok(())
            })
        }),
        Cmd::Streams {
            url,
            concurrency,
            duration,
            shape,
        } => multi_thread().and_then(|rt| {
            rt.block_on(async {
                let target = adhoc_target(&url, &shape, true)?;
                let run = load::streams::StreamRun {
                    concurrency,
                    ramp: Duration::from_millis(1500),
                    duration,
                    timeout: Duration::from_secs(15),
                    stall: plan::INTERVAL * 10,
                };
                let r = load::streams::run(&load::client(), &target, run).await?;
                println!("{}", serde_json::to_string_pretty(&r)?);
                Ok(())
            })
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render(json: &std::path::Path, out: &std::path::Path) -> Result<(), BoxError> {
    let report: report::Report = serde_json::from_slice(&std::fs::read(json)?)?;
    std::fs::write(out, markdown::render(&report))?;
    Ok(())
}

async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        }
        _ => std::future::pending().await,
    }
}

fn multi_thread() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn adhoc_target(url: &str, shape: &Shape, stream: bool) -> Result<load::Target, BoxError> {
    let bearer = shape
        .token
        .as_ref()
        .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
        .transpose()?;
    plan::endpoint_target(url, shape.ollama, bearer, stream)
}
