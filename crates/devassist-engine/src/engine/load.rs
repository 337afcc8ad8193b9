//! Starting the engine thread: load the model, create the one context (`n_seq_max` = slots,
//! a separate KV stream of `ctx` tokens per slot), report back, then run the scheduler.

use super::scheduler::Scheduler;
use super::{EngineHandle, EngineStatus};
use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Context size per slot when `--ctx` is not given (capped at the training context).
const DEFAULT_CTX: u32 = 4096;

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub model_path: PathBuf,
    /// Tokens of context per slot; default 4,096, at most the model's training context.
    pub ctx_per_slot: Option<u32>,
    pub parallel: u32,
    pub threads: u32,
    /// Most tokens per decode step (generation tokens plus prefill chunks).
    pub batch: u32,
    /// Serve embeddings instead of text; `Some(true)` for a model with its own pooling.
    pub embeddings: Option<bool>,
    pub gpu_layers: u32,
    pub flash_attn: crate::args::FlashAttention,
}

/// A loaded engine.
#[derive(Debug)]
pub struct Loaded {
    pub model: Arc<LlamaModel>,
    pub handle: EngineHandle,
    /// Context tokens per slot (the longest prompt plus output one request can have).
    pub n_ctx_slot: u32,
    pub load_ms: u128,
}

/// The engine thread's two signals: loaded (or failed to), and stopped.
#[derive(Debug)]
pub struct Spawned {
    pub ready: oneshot::Receiver<Result<Loaded, String>>,
    /// Resolves when the engine thread ends, normally or by a panic.
    pub stopped: oneshot::Receiver<()>,
}

/// Fires `stopped` when dropped, which also happens while a panic unwinds the thread.
struct StopGuard(Option<oneshot::Sender<()>>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Start the engine thread.
pub fn spawn(backend: Arc<LlamaBackend>, config: EngineConfig) -> Spawned {
    let (ready_tx, ready) = oneshot::channel();
    let (stopped_tx, stopped) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("engine".to_string())
        .spawn(move || {
            let _guard = StopGuard(Some(stopped_tx));
            engine_thread(&backend, &config, ready_tx);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "Cannot start the engine thread");
    }
    Spawned { ready, stopped }
}

fn engine_thread(
    backend: &LlamaBackend,
    config: &EngineConfig,
    ready: oneshot::Sender<Result<Loaded, String>>,
) {
    let started = Instant::now();
    let params = LlamaModelParams::default().with_n_gpu_layers(config.gpu_layers);
    let model = match LlamaModel::load_from_file(backend, &config.model_path, &params) {
        Ok(m) => Arc::new(m),
        Err(e) => {
            let _ = ready.send(Err(format!(
                "{}: llama.cpp cannot load this model ({e})",
                config.model_path.display()
            )));
            return;
        }
    };
    let parallel = config.parallel.max(1);
    let train = model.n_ctx_train().max(1);
    let per_slot = config
        .ctx_per_slot
        .unwrap_or(DEFAULT_CTX.min(train))
        .max(16);
    if per_slot > train {
        tracing::warn!(
            ctx = per_slot,
            n_ctx_train = train,
            "Context is larger than the model was trained for"
        );
    }
    let embeddings = config.embeddings;
    // Embeddings need a whole input in one micro-batch (non-causal attention).
    let batch = match embeddings {
        Some(_) => per_slot,
        None => config.batch.max(parallel).max(1),
    };
    let threads = i32::try_from(config.threads.max(1)).unwrap_or(1);
    let mut ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(per_slot.saturating_mul(parallel)))
        .with_n_seq_max(parallel)
        .with_kv_unified(false)
        .with_n_batch(batch)
        .with_n_ubatch(batch)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_flash_attention_policy(config.flash_attn.llama_value());
    if let Some(own_pooling) = embeddings {
        let pooling = if own_pooling {
            LlamaPoolingType::Unspecified
        } else {
            LlamaPoolingType::Mean
        };
        ctx_params = ctx_params.with_embeddings(true).with_pooling_type(pooling);
    }
    let ctx = match model.new_context(backend, ctx_params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "{}: cannot create a llama.cpp context ({e})",
                config.model_path.display()
            )));
            return;
        }
    };
    // llama.cpp pads the context (and may clamp the batch): use what it really allocated, and
    // never let a slot grow past what was asked for.
    let n_ctx_slot = (ctx.n_ctx() / parallel).min(per_slot);
    let batch = batch.min(ctx.n_batch()).max(1);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let status = Arc::new(Mutex::new(EngineStatus::default()));
    let handle = EngineHandle {
        tx,
        status: Arc::clone(&status),
    };
    let scheduler = Scheduler::new(
        ctx,
        &model,
        parallel as usize,
        n_ctx_slot as usize,
        batch as usize,
        status,
    );
    let loaded = Loaded {
        model: Arc::clone(&model),
        handle,
        n_ctx_slot,
        load_ms: started.elapsed().as_millis(),
    };
    if ready.send(Ok(loaded)).is_err() {
        return;
    }
    tracing::info!(
        slots = parallel,
        ctx_per_slot = n_ctx_slot,
        batch,
        threads,
        "Engine ready"
    );
    scheduler.run(&mut rx);
    tracing::debug!("Engine thread stopped");
}
