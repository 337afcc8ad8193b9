//! Process start-up and the readiness protocol: check the model file, bind the socket (so
//! `/health` answers 503 while loading), load the model, then print exactly one line
//! `devassist-engine listening on http://ADDR` to stdout. Shuts down on SIGINT/SIGTERM.

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
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
    });
    let embeddings = (meta.is_embedding || args.embeddings).then_some(meta.is_embedding);
    let config = EngineConfig {
        model_path: args.model.clone(),
        ctx_per_slot: args.ctx,
        parallel: args.parallel.max(1),
        threads,
        batch: args.batch.max(1),
        embeddings,
        gpu_layers: args.gpu_layers.unwrap_or(u32::MAX),
        flash_attn: args.flash_attn,
    };
    let spawned = engine::spawn(Arc::new(backend), config);
    let mut engine_stopped = spawned.stopped;
    let loaded = spawned
        .ready
        .await
        .map_err(|_| "the engine thread stopped while loading".to_string())??;

    let template_source = template_file.as_deref().or(meta.chat_template.as_deref());
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
        fim: fim_tokens(&loaded.model, &meta),
        template,
        n_ctx_slot: loaded.n_ctx_slot as usize,
        embeddings: embeddings.is_some(),
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
        .map_err(|e| format!("cannot write the readiness line: {e}"))?;
    drop(stdout);

    tokio::select! {
        served = &mut http => return finished(served),
        _ = &mut engine_stopped => {
            // Only a panic ends the engine thread while the server still holds its handle:
            // exit, so the supervisor restarts us instead of serving errors.
            return Err("the engine thread stopped unexpectedly".to_string());
        }
        () = shutdown_signal() => {}
    }
    tracing::info!("Shutting down");
    shutdown.notify_waiters();
    match tokio::time::timeout(SHUTDOWN_GRACE, http).await {
        Ok(served) => finished(served),
        Err(_) => Ok(()),
    }
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
