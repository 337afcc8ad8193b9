//! Starting the engine thread: load the model, create the one context (`n_seq_max` = slots,
//! a separate KV stream of `ctx` tokens per slot unless `--kv-unified`), report back, then run
//! the scheduler. The thread frees the context and the model before it ends.

use super::scheduler::{Policy, Scheduler};
use super::{EngineHandle, EngineStatus};
use crate::args::Tuning;
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

/// Default CPU threads when every layer runs on a GPU: the CPU only feeds the device, and more
/// threads spinning in llama.cpp's thread pool made steps slower (on an H200 with 16 cores, 4
/// threads decoded 5–31 % faster than 16 at 1–8 concurrent requests).
const GPU_THREADS: u32 = 4;

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub model_path: PathBuf,
    /// Tokens of context per slot; default 4,096, at most the model's training context.
    pub ctx_per_slot: Option<u32>,
    pub parallel: u32,
    /// CPU threads; `None` picks a default from the cores and whether the model is offloaded.
    pub threads: Option<u32>,
    /// Most tokens per decode step (generation tokens plus prefill chunks).
    pub batch: u32,
    /// Serve embeddings instead of text; `Some(true)` for a model with its own pooling.
    pub embeddings: Option<bool>,
    pub gpu_layers: u32,
    pub flash_attn: crate::args::FlashAttention,
    pub tuning: Tuning,
}

/// A loaded engine.
#[derive(Debug)]
pub struct Loaded {
    pub model: Arc<LlamaModel>,
    pub handle: EngineHandle,
    /// Context tokens per slot (the longest prompt plus output one request can have).
    pub n_ctx_slot: u32,
    pub load_ms: u128,
    /// The engine serves embeddings, not text.
    pub embeddings: bool,
}

/// The engine thread's two signals: loaded (or failed to), and stopped.
#[derive(Debug)]
pub struct Spawned {
    pub ready: oneshot::Receiver<Result<Loaded, String>>,
    /// Resolves when the engine thread ends, normally or by a panic.
    pub stopped: oneshot::Receiver<()>,
    /// The thread itself, to join; `None` when it could not be started.
    pub thread: Option<std::thread::JoinHandle<()>>,
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
    let thread = match spawned {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!(error = %e, "Cannot start the engine thread");
            None
        }
    };
    Spawned {
        ready,
        stopped,
        thread,
    }
}

/// `--threads`, else all available cores, or [`GPU_THREADS`] of them when the whole model
/// (every block and the output layer) is on a GPU.
fn thread_count(
    requested: Option<u32>,
    backend: &LlamaBackend,
    model: &LlamaModel,
    gpu_layers: u32,
) -> (u32, bool) {
    let offloaded = backend.supports_gpu_offload() && gpu_layers > model.n_layer();
    let cores =
        std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1));
    let threads = match requested {
        Some(n) => n,
        None if offloaded => cores.min(GPU_THREADS),
        None => cores,
    };
    (threads.max(1), offloaded)
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
    let (threads, offloaded) = thread_count(config.threads, backend, &model, config.gpu_layers);
    let threads = i32::try_from(threads).unwrap_or(1);
    let tuning = config.tuning;
    let mut ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(per_slot.saturating_mul(parallel)))
        .with_n_seq_max(parallel)
        .with_kv_unified(tuning.kv_unified)
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
    // Packing moves caches between per-slot streams: pointless with one stream or fewer than
    // three slots (any set of two is consecutive), and not for recurrent state.
    let packing = tuning.slot_packing
        && !tuning.kv_unified
        && parallel >= 3
        && embeddings.is_none()
        && !model.is_recurrent()
        && !model.is_hybrid();
    let policy = Policy {
        packing,
        fast_sampling: tuning.fast_sampling,
    };
    let scheduler = Scheduler::new(
        ctx,
        &model,
        parallel as usize,
        n_ctx_slot as usize,
        batch as usize,
        status,
        policy,
    );
    let loaded = Loaded {
        model: Arc::clone(&model),
        handle,
        n_ctx_slot,
        load_ms: started.elapsed().as_millis(),
        embeddings: embeddings.is_some(),
    };
    if ready.send(Ok(loaded)).is_err() {
        return;
    }
    tracing::info!(
        slots = parallel,
        ctx_per_slot = n_ctx_slot,
        batch,
        threads,
        gpu = offloaded,
        kv_unified = tuning.kv_unified,
        packing,
        fast_sampling = tuning.fast_sampling,
        "Engine ready"
    );
    // `run` consumes the scheduler: the context is freed here, on this thread, when it returns.
    scheduler.run(&mut rx);
    tracing::debug!("Engine thread stopped");
}
