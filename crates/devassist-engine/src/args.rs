//! `devassist engine` command-line flags.

use std::path::PathBuf;

/// Serve one GGUF model over an OpenAI-compatible HTTP API.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// GGUF model file to serve.
    #[arg(long, short)]
    pub model: PathBuf,
    /// Address to listen on; `127.0.0.1:0` picks a free port (see the readiness line).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Context size per slot in tokens (prompt plus answer of one request). Default 4096,
    /// capped at the model's training context.
    #[arg(long)]
    pub ctx: Option<u32>,
    /// Parallel slots: requests generated together by continuous batching.
    #[arg(long, default_value_t = 4)]
    pub parallel: u32,
    /// CPU threads for llama.cpp (default: the number of available cores; 4 at most when
    /// every layer is offloaded to a GPU, where spinning CPU threads only slow each step).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Most tokens evaluated per decode step; long prompts are prefilled in chunks of this
    /// size, which bounds how long a cancellation or a new request waits.
    #[arg(long, default_value_t = 128)]
    pub batch: u32,
    /// Model id reported to clients (default: from GGUF metadata, e.g. `smollm2:135m`).
    #[arg(long)]
    pub alias: Option<String>,
    /// Serve `/v1/embeddings` (mean pooling) even from a model that is not an embedding model;
    /// the engine then serves no text generation.
    #[arg(long)]
    pub embeddings: bool,
    /// Layers to offload to the GPU in `cuda` builds (default: all).
    #[arg(long)]
    pub gpu_layers: Option<u32>,
    /// Jinja chat template to use instead of the one in the GGUF file (for files whose
    /// template is missing, wrong, or takes no tools).
    #[arg(long)]
    pub chat_template_file: Option<PathBuf>,
    /// Flash attention: `auto` lets llama.cpp decide per device.
    #[arg(long, value_enum, default_value_t = FlashAttention::Auto)]
    pub flash_attn: FlashAttention,
    /// Batching switches, for measuring one against the other (`make bench-gpu`).
    #[command(flatten)]
    pub tuning: Tuning,
}

/// How the engine batches sequences. The defaults are the measured best; each switch brings
/// back an older behaviour so one benchmark run can compare them (docs/engine.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Tuning {
    /// One KV cache shared by all slots instead of one stream per slot: every step is one
    /// micro-batch whichever slots take part, but every token attends over the cached cells of
    /// all slots, idle ones included.
    #[arg(long, env = "DEVASSIST_ENGINE_KV_UNIFIED", default_value_t = false, action = clap::ArgAction::Set, value_name = "BOOL", hide_short_help = true)]
    pub kv_unified: bool,
    /// Keep the generating slots on consecutive sequence ids (moving a cache between slots
    /// when needed): llama.cpp evaluates per-slot KV streams in one micro-batch only when
    /// their ids are consecutive. No effect with `--kv-unified true`.
    #[arg(long, env = "DEVASSIST_ENGINE_SLOT_PACKING", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", hide_short_help = true)]
    pub slot_packing: bool,
    /// Sample greedy and plain top-k requests straight from the logits instead of through
    /// llama.cpp's sampler over a candidate array of the whole vocabulary (same tokens).
    #[arg(long, env = "DEVASSIST_ENGINE_FAST_SAMPLING", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL", hide_short_help = true)]
    pub fast_sampling: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            kv_unified: false,
            slot_packing: true,
            fast_sampling: true,
        }
    }
}

/// llama.cpp's flash-attention policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlashAttention {
    Auto,
    On,
    Off,
}

impl FlashAttention {
    /// llama.cpp's `llama_flash_attn_type` value.
    pub(crate) fn llama_value(self) -> i32 {
        match self {
            Self::Auto => -1,
            Self::On => 1,
            Self::Off => 0,
        }
    }
}
