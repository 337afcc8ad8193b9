//! Model-family prompt knowledge: FIM token layouts, where other-file context goes, chat
//! prompts for models without FIM, stop strings, and fitting the prompt into the context.
//!
//! Pure functions driven by the per-family table; no I/O and no knowledge of surfaces or
//! backends. The family is resolved once at config load ([`PromptConfig::resolve`]).

mod budget;
mod chat;
mod context;
mod detect;
mod family;
mod input;
pub mod language;
mod ollama;
mod profile;
mod render;
mod table;
mod template;

#[cfg(test)]
mod tests;

pub use budget::{BudgetLimits, DEFAULT_PREFIX_SHARE, EstimatingCounter, TokenCounter, budget};
pub use chat::{CURSOR_MARKER, render_generation};
pub use detect::detect;
pub use family::{PromptFamily, UnknownFamily};
pub use input::{FimInput, LineEnding, PromptBody, RenderedPrompt, Snippet};
pub use language::Language;
pub use ollama::ollama_template;
pub use profile::{PromptConfig, PromptConfigError, PromptProfile};
pub use render::{FimFormat, render_fim};
pub use table::{COMMON_EXTRA_STOPS, FimOrder, FimTokens, fim_tokens, stop_words};
pub use template::{FimTemplate, TemplateError, TemplateValues};
