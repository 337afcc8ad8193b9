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
    /// CPU threads for llama.cpp (default: the number of available cores).
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
