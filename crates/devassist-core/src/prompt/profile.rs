//! A model's prompt settings from config, validated into what rendering needs.

use super::budget::{BudgetLimits, DEFAULT_PREFIX_SHARE, TokenCounter, budget};
use super::chat::render_generation;
use super::detect::detect;
use super::family::PromptFamily;
use super::input::{FimInput, RenderedPrompt};
use super::ollama::ollama_template;
use super::render::{FimFormat, dedup, render_fim};
use super::template::{FimTemplate, TemplateError};
use crate::postprocess::PostprocessOptions;
use crate::request::Message;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `prompt` table of a model in `devassist.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptConfig {
    /// Prompt family (`qwen2.5-coder`, `codestral`, `chat`, ...). Detected from the model
    /// name and GGUF metadata when absent.
    pub family: Option<PromptFamily>,
    /// Custom FIM layout with `{prefix}` and `{suffix}` (and optionally `{filename}`,
    /// `{language}`, `{repo_name}`); replaces the family's layout for completions.
    pub fim_template: Option<String>,
    /// Stop strings for completions, replacing the family's list.
    pub stop: Option<Vec<String>>,
    /// Stop strings added to the family's (or `stop`'s) list.
    pub extra_stop: Vec<String>,
    /// Share of the code budget the prefix gets when both sides must be cut (0.0 to 1.0).
    pub prefix_share: Option<f64>,
    /// Post-processing switches.
    pub postprocess: PostprocessOptions,
}

/// A [`PromptConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptConfigError {
    Template(TemplateError),
    PrefixShare(f64),
}

impl PromptConfigError {
    /// The config key at fault, relative to the `prompt` table.
    pub fn field(&self) -> &'static str {
        match self {
            PromptConfigError::Template(_) => "fim_template",
            PromptConfigError::PrefixShare(_) => "prefix_share",
        }
    }
}

impl fmt::Display for PromptConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptConfigError::Template(e) => e.fmt(f),
            PromptConfigError::PrefixShare(v) => {
                write!(f, "prefix_share must be between 0.0 and 1.0, got {v}")
            }
        }
    }
}

impl std::error::Error for PromptConfigError {}

impl PromptConfig {
    /// Validates the settings for the model named `model_name`.
    pub fn resolve(
        &self,
        model_name: &str,
        gguf_architecture: Option<&str>,
    ) -> Result<PromptProfile, PromptConfigError> {
        let family = self
            .family
            .unwrap_or_else(|| detect(model_name, gguf_architecture));
        let format = match &self.fim_template {
            Some(source) => {
                FimFormat::Custom(FimTemplate::parse(source).map_err(PromptConfigError::Template)?)
            }
            None => FimFormat::Family(family),
        };
        let prefix_share = match self.prefix_share {
            None => DEFAULT_PREFIX_SHARE,
            Some(v) if (0.0..=1.0).contains(&v) => v,
            Some(v) => return Err(PromptConfigError::PrefixShare(v)),
        };
        Ok(PromptProfile {
            family,
            format,
            stop: self.stop.clone(),
            extra_stop: self.extra_stop.clone(),
            prefix_share,
            postprocess: self.postprocess.clone(),
        })
    }
}

/// Everything the gateway needs to prompt one model.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptProfile {
    /// Used for generation and chat, and for completion unless `format` is a custom template.
    pub family: PromptFamily,
    pub format: FimFormat,
    /// Replaces the rendered prompt's stop list when set.
    pub stop: Option<Vec<String>>,
    pub extra_stop: Vec<String>,
    pub prefix_share: f64,
    pub postprocess: PostprocessOptions,
}

impl PromptProfile {
    /// The profile for a family with default settings.
    pub fn for_family(family: PromptFamily) -> Self {
        Self {
            family,
            format: FimFormat::Family(family),
            stop: None,
            extra_stop: Vec::new(),
            prefix_share: DEFAULT_PREFIX_SHARE,
            postprocess: PostprocessOptions::default(),
        }
    }

    /// Whether completions use FIM tokens (as opposed to the chat hole-filler prompt).
    pub fn is_fim(&self) -> bool {
        match &self.format {
            FimFormat::Family(family) => family.is_fim(),
            FimFormat::Custom(_) => true,
        }
    }

    /// Renders a completion prompt with this model's stop list.
    pub fn render_fim(&self, input: &FimInput) -> RenderedPrompt {
        let mut rendered = render_fim(&self.format, input);
        if let Some(stop) = &self.stop {
            rendered.stop = stop.clone();
        }
        rendered.stop.extend(self.extra_stop.iter().cloned());
        rendered.stop = dedup(rendered.stop);
        rendered
    }

    /// Trims `input` to fit the context window, leaving `max_output_tokens` for the answer.
    pub fn budget(
        &self,
        input: &FimInput,
        counter: &dyn TokenCounter,
        context_tokens: usize,
        max_output_tokens: usize,
    ) -> FimInput {
        let limits = BudgetLimits {
            context_tokens,
            max_output_tokens,
            prefix_share: self.prefix_share,
        };
        budget(&self.format, input, counter, &limits)
    }

    /// Chat messages asking for code that carries out `instruction` at the cursor.
    pub fn render_generation(&self, instruction: &str, input: &FimInput) -> Vec<Message> {
        render_generation(self.family, instruction, input)
    }

    /// The Ollama template `/api/show` should report; `None` when completions are not FIM.
    pub fn ollama_template(&self) -> Option<String> {
        ollama_template(&self.format)
    }
}
