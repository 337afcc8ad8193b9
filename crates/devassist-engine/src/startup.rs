//! Process start-up and the readiness protocol: check the model file, bind the socket (so
//! `/health` answers 503 while loading), load the model, then print exactly one line
//! `devassist-engine listening on http://ADDR` to stdout.
//!
//! On SIGINT/SIGTERM: stop accepting connections, give running requests [`SHUTDOWN_GRACE`],
//! end the rest, then stop the engine thread and join it, so the llama.cpp context is freed
//! before the process exits (freeing a CUDA context while the process exits aborts it), and
//! exit 0.

use crate::args::EngineArgs;
use crate::engine::{self, EngineConfig};
use crate::server::{self, AppState, Fim, Ready};
use crate::template::ChatTemplate;
use devassist_gguf::{ModelMeta, model_name};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::{LogOptions, send_logs_to_tracing};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

/// How long in-flight requests get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long the HTTP server gets to send the last events once the engine has ended them.
const DRAIN: Duration = Duration::from_secs(2);

/// Run the engine until it is stopped. Errors are printed to stderr, naming the model file.
pub fn run(args: EngineArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(serve(args)),
        Err(e) => Err(format!("cannot start the async runtime: {e}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("devassist engine: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: EngineArgs) -> Result<(), String> {
    send_logs_to_tracing(LogOptions::default());
    // Our own reader gives a clear error for missing, truncated and non-GGUF files before
    // llama.cpp sees them.
    let meta = ModelMeta::read(&args.model).map_err(|e| e.to_string())?;
    let template_file = match &args.chat_template_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the chat template {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let name = args.alias.clone().unwrap_or_else(|| model_name(&meta));
    let created = meta
        .modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let state = AppState::new(&name, created, meta.context_length);
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let notified = Arc::clone(&shutdown);
    let app = server::router(state.clone());
    let mut http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { notified.notified().await })
            .await
    });

    let backend = LlamaBackend::init().map_err(|e| format!("cannot initialise llama.cpp: {e}"))?;
    let embeddings = (meta.is_embedding || args.embeddings).then_some(meta.is_embedding);
    let config = EngineConfig {
        model_path: args.model.clone(),
        ctx_per_slot: args.ctx,
        parallel: args.parallel.max(1),
        threads: args.threads,
        batch: args.batch.max(1),
        embeddings,
        gpu_layers: args.gpu_layers.unwrap_or(u32::MAX),
        flash_attn: args.flash_attn,
        tuning: args.tuning,
    };
    let spawned = engine::spawn(Arc::new(backend), config);
    let engine_stopped = spawned.stopped;
    let engine_thread = spawned.thread;
    // A signal while loading is kept until the model is loaded: the load cannot be
    // interrupted, and the context must still be freed before the process exits.
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut signalled = false;
    let loading = spawned.ready;
    tokio::pin!(loading);
    let loaded = loop {
        tokio::select! {
            loaded = &mut loading => break loaded,
            () = &mut signal, if !signalled => {
                tracing::info!("Shutdown asked for while loading; stopping once loaded");
                signalled = true;
            }
        }
    };
    let loaded = loaded.map_err(|_| "the engine thread stopped while loading".to_string())??;
    let mut engine = Running {
        handle: loaded.handle.clone(),
        stopped: engine_stopped,
        thread: engine_thread,
    };

    let outcome = match announce(
        &args,
        &meta,
        template_file.as_deref(),
        &state,
        loaded,
        &name,
        addr,
    ) {
        Err(message) => Err(message),
        Ok(()) if signalled => Ok(()),
        Ok(()) => tokio::select! {
            served = &mut http => finished(served),
            _ = &mut engine.stopped => {
                // Only a panic ends the engine thread while the server still holds its handle:
                // exit, so the supervisor restarts us instead of serving errors.
                Err("the engine thread stopped unexpectedly".to_string())
            }
            () = &mut signal => Ok(()),
        },
    };
    tracing::info!("Shutting down");
    shutdown.notify_waiters();
    let mut served = None;
    if !http.is_finished() {
        served = tokio::time::timeout(SHUTDOWN_GRACE, &mut http).await.ok();
    }
    // End what is still running; the engine thread frees the context, and is joined.
    engine.stop().await;
    if served.is_none() && !http.is_finished() {
        served = tokio::time::timeout(DRAIN, &mut http).await.ok();
    }
    if served.is_none() {
        http.abort();
    }
    let served = served.map_or(Ok(()), finished);
    outcome.and(served)
}

/// The engine thread, once loaded.
struct Running {
    handle: engine::EngineHandle,
    stopped: tokio::sync::oneshot::Receiver<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stop the engine thread (it ends every generation and frees the context) and join it.
    async fn stop(self) {
        if !self.handle.shutdown() {
            tracing::debug!("The engine thread had already stopped");
        }
        if let Some(thread) = self.thread
            && let Ok(Err(_)) = tokio::task::spawn_blocking(move || thread.join()).await
        {
            tracing::error!("The engine thread panicked");
        }
        tracing::debug!("Engine thread joined");
    }
}

/// Compile the chat template, hand the loaded engine to the HTTP side and print the
/// readiness line.
fn announce(
    args: &EngineArgs,
    meta: &ModelMeta,
    template_file: Option<&str>,
    state: &AppState,
    loaded: engine::Loaded,
    name: &str,
    addr: std::net::SocketAddr,
) -> Result<(), String> {
    let template_source = template_file.or(meta.chat_template.as_deref());
    let template_origin = args.chat_template_file.as_ref().unwrap_or(&args.model);
    let template = ChatTemplate::new(
        template_source,
        meta.bos_token.as_ref().map_or("", |t| t.text.as_str()),
        meta.eos_token.as_ref().map_or("", |t| t.text.as_str()),
    )
    .map_err(|e| {
        format!(
            "{}: the chat template does not compile ({e})",
            template_origin.display()
        )
    })?;
    let vocab = loaded.model.vocab();
    let bos = Some(vocab.bos()).filter(|t| t.0 >= 0);
    let ready = Ready {
        engine: loaded.handle,
        fim: fim_tokens(&loaded.model, meta),
        template,
        n_ctx_slot: loaded.n_ctx_slot as usize,
        embeddings: loaded.embeddings,
        bos,
        bos_text: meta
            .bos_token
            .as_ref()
            .map(|t| t.text.clone())
            .unwrap_or_default(),
        add_bos: vocab.should_add_bos(),
        model: Arc::clone(&loaded.model),
    };
    state.set_ready(ready);
    tracing::info!(model = %name, load_ms = loaded.load_ms, %addr, "Model loaded");

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "devassist-engine listening on http://{addr}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write the readiness line: {e}"))
}

fn finished(served: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), String> {
    match served {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("the HTTP server failed: {e}")),
        Err(e) => Err(format!("the HTTP server task failed: {e}")),
    }
}

/// llama.cpp's own FIM ids when it found them, else the ones our GGUF reader detected.
fn fim_tokens(model: &LlamaModel, meta: &ModelMeta) -> Option<Fim> {
    let vocab = model.vocab();
    let (pre, suf, mid) = (vocab.fim_pre(), vocab.fim_suf(), vocab.fim_mid());
    let (prefix, suffix, middle) = if pre.0 >= 0 && suf.0 >= 0 && mid.0 >= 0 {
        (pre, suf, mid)
    } else {
        let fim = meta.fim.as_ref()?;
        let id = |t: &devassist_gguf::Token| i32::try_from(t.id).ok().map(LlamaToken);
        (id(&fim.prefix)?, id(&fim.suffix)?, id(&fim.middle)?)
    };
    let prefix_text = meta
        .fim
        .as_ref()
        .map(|f| f.prefix.text.as_str())
        .unwrap_or_default();
    Some(Fim {
        prefix,
        suffix,
        middle,
        suffix_first: prefix_text == "[PREFIX]",
    })
}

async fn shutdown_signal() {
    // A handler that cannot be installed must not read as a signal (that would stop the
    // engine at once); the same rule as `devassist serve`'s copy of this function.
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
