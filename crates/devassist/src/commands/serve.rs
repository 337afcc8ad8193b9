//! `devassist serve`: load the configuration, set up logging, raise the open-file limit and
//! size the server's limits from it, bind (and `[metrics] listen`), start the usage writer,
//! serve until SIGTERM or SIGINT, then drain within the grace period and write the last
//! usage records.

use devassist_server::config::logging::ExpandedMode;
use devassist_server::config::telemetry::USAGE_FILE;
use devassist_server::config::{self, LogFormat, Settings};
use devassist_server::telemetry::expanded::ExpandedWriter;
use devassist_server::telemetry::usage::{Store, UsageWriter, WriterConfig};
use devassist_server::{AppState, ServerLimits};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Default: none, which serves the local models.
    #[arg(long, short, env = "DEVASSIST_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding `server.listen` (`127.0.0.1:0` picks a free port).
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory of local `*.gguf` models, overriding `server.models_dir` and
    /// `DEVASSIST_MODELS`.
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let mut settings = match config::load(args.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("devassist: invalid configuration:\n{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = &args.listen {
        match listen.parse() {
            Ok(addr) => settings.server.listen = addr,
            Err(e) => {
                eprintln!("devassist: --listen `{listen}` is not an address: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(dir) = args.models_dir {
        settings.server.models_dir = Some(dir);
    }
    if let Err(e) = config::auth::check_exposure(settings.server.listen, &settings.auth) {
        eprintln!("devassist: {e}");
        return ExitCode::from(2);
    }
    init_logging(&settings);
    let limits = server_limits(&settings);
    supervise_backends();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = settings.server.worker_threads {
        builder.worker_threads(n);
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("devassist: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(settings, limits)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "Gateway stopped with an error");
            eprintln!("devassist: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Raises the open-file soft limit to the hard limit, then sizes the caps from it.
fn server_limits(settings: &Settings) -> ServerLimits {
    let (nofile, err) = devassist_server::limits::raise_nofile();
    if let Some(e) = err {
        tracing::warn!(soft = nofile.soft, hard = nofile.hard, error = %e, "Cannot raise the open-file limit");
    } else {
        tracing::info!(
            before = nofile.before,
            soft = nofile.soft,
            hard = nofile.hard,
            "Open-file limit"
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let limits = ServerLimits::resolve(&settings.server, nofile.soft, cores);
    tracing::info!(
        max_connections = limits.max_connections,
        max_in_flight = limits.max_in_flight,
        body_timeout_s = limits.body_timeout.as_secs_f64(),
        "Server limits"
    );
    if limits.descriptors_needed() > nofile.soft {
        tracing::warn!(
            needed = limits.descriptors_needed(),
            limit = nofile.soft,
            "server.max_connections and server.max_in_flight may need more file descriptors \
             than the open-file limit allows: lower them or raise the hard limit (LimitNOFILE=)"
        );
    }
    limits
}

/// Backend processes run under this binary's `supervise` mode, so that none outlives the
/// gateway.
fn supervise_backends() {
    match std::env::current_exe() {
        Ok(program) => devassist_server::pool::process::supervise_with(program),
        Err(e) => tracing::warn!(
            error = %e,
            "Cannot find the devassist binary: backend processes run unsupervised and may \
             outlive a gateway killed with SIGKILL"
        ),
    }
}

async fn serve(mut settings: Settings, limits: ServerLimits) -> Result<(), String> {
    let engine = engine_command();
    let mut state =
        devassist_server::build(&settings, engine.as_ref()).map_err(|e| e.to_string())?;
    if state.router.models().is_empty() {
        super::defaults::add_default_models(&mut settings);
        state = devassist_server::build(&settings, None).map_err(|e| e.to_string())?;
    }
    let listener = tokio::net::TcpListener::bind(settings.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.server.listen))?;
    let metrics = match settings.metrics.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("metrics.listen: cannot listen on {addr}: {e}"))?,
        ),
        None => None,
    };
    let usage = start_usage(&settings, &state);
    let expanded = start_expanded(&settings, &state)?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, models = settings.models.len(), "Listening");
    let stop_metrics = CancellationToken::new();
    let mut metrics_addr = None;
    let metrics_server = match metrics {
        Some(l) => {
            let at = l.local_addr().map_err(|e| e.to_string())?;
            metrics_addr = Some(at);
            tracing::info!(addr = %at, "Serving /metrics on its own listener");
            let stop = stop_metrics.clone().cancelled_owned();
            Some(tokio::spawn(devassist_server::telemetry::scrape::serve(
                state.clone(),
                l,
                stop,
            )))
        }
        None => None,
    };
    // Tests and supervisors read these lines to learn the ports when listening on :0; the
    // metrics line comes second, so that readers that stop at the first miss nothing.
    println!("devassist listening on http://{addr}");
    if let Some(at) = metrics_addr {
        println!("devassist metrics on http://{at}");
    }
    let result = devassist_server::serve(
        state,
        listener,
        shutdown_signal(),
        settings.server.shutdown_grace,
        limits,
    )
    .await
    .map_err(|e| e.to_string());
    stop_metrics.cancel();
    if let Some(server) = metrics_server {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "The metrics listener failed"),
            Err(e) => tracing::warn!(error = %e, "The metrics listener's task failed"),
        }
    }
    // Requests are done: their usage records are in the channel, and are written now.
    if let Some(writer) = usage {
        writer.shutdown(Duration::from_secs(10)).await;
    }
    if let Some(writer) = expanded {
        writer.shutdown(Duration::from_secs(10)).await;
    }
    result
}

/// Opens the expanded log and starts its writer when `[log] expanded` is on. Turned on, a
/// file that cannot be opened stops start-up: the operator asked for that record.
fn start_expanded(settings: &Settings, state: &AppState) -> Result<Option<ExpandedWriter>, String> {
    let expanded = &settings.log.expanded;
    if expanded.mode == ExpandedMode::Off {
        return Ok(None);
    }
    let writer = ExpandedWriter::start(expanded, state.telemetry.clone()).map_err(|e| {
        format!(
            "log.expanded_file: cannot open {}: {e}",
            expanded.file.display()
        )
    })?;
    tracing::warn!(
        path = %expanded.file.display(),
        mode = ?expanded.mode,
        "Expanded logging is on: full prompts and answers (secrets redacted) are written"
    );
    Ok(Some(writer))
}

/// Opens the usage database and starts its writer, unless `[usage] enabled = false`. A
/// database that cannot be opened is logged and the gateway runs without usage records.
fn start_usage(settings: &Settings, state: &AppState) -> Option<UsageWriter> {
    if !settings.usage.enabled {
        tracing::info!("Usage records are off (usage.enabled = false)");
        return None;
    }
    let path = settings.server.data_dir.join(USAGE_FILE);
    match Store::open(&path) {
        Ok(store) => {
            tracing::info!(
                path = %path.display(),
                retention_days = settings.usage.retention_days,
                "Recording usage"
            );
            let config = WriterConfig::new(settings.usage.retention_days);
            Some(UsageWriter::start(store, config, state.telemetry.clone()))
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                "Cannot open the usage database: running WITHOUT usage records (set \
                 server.data_dir to a writable directory, or usage.enabled = false)"
            );
            None
        }
    }
}

/// The engine is this binary's own `engine` subcommand, when it was built in.
fn engine_command() -> Option<devassist_server::local::EngineCommand> {
    if !cfg!(feature = "engine") {
        tracing::info!("Built without the embedded engine: local GGUF models are not served");
        return None;
    }
    match std::env::current_exe() {
        Ok(program) => Some(devassist_server::local::EngineCommand { program }),
        Err(e) => {
            tracing::warn!(error = %e, "Cannot find the devassist binary to run the engine");
            None
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn init_logging(settings: &Settings) {
    // An empty RUST_LOG counts as unset: it would otherwise silence every log line.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|f| !f.trim().is_empty())
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(&settings.log.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.log.format {
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
        LogFormat::Human => builder.try_init(),
    };
}
