//! devassist-engine: `devassist engine`, one GGUF model served over an OpenAI-compatible HTTP
//! API on llama.cpp (through `llama-cpp-2`).
//!
//! Layout: [`startup`] runs the process and the readiness protocol; `engine` owns the
//! llama.cpp context on one thread (continuous batching, prefix reuse, cancellation);
//! `server` is the axum app that tokenises, renders chat templates and streams answers.

mod args;
mod engine;
mod sampling;
mod server;
mod startup;
mod template;
mod text;
mod toolcall;

pub use args::{EngineArgs, FlashAttention, Tuning};
pub use sampling::SamplingParams;
pub use startup::run;

/// Log filter when `DEVASSIST_LOG` is unset: our own info lines, llama.cpp and ggml only when
/// something is wrong.
pub const DEFAULT_LOG_FILTER: &str = "warn,devassist_engine=info,llama-cpp-2=error";
