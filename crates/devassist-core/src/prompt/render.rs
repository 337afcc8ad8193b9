//! Renders a completion prompt for a family or a custom template.

use super::chat;
use super::context;
use super::family::PromptFamily;
use super::input::{FimInput, PromptBody, RenderedPrompt};
use super::table::{self, CODESTRAL_FILE_HEADER_STOP, COMMON_EXTRA_STOPS};
use super::template::{FimTemplate, TemplateValues};

/// How a model's completion prompt is laid out: a known family or an admin's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FimFormat {
    Family(PromptFamily),
    Custom(FimTemplate),
}

impl From<PromptFamily> for FimFormat {
    fn from(family: PromptFamily) -> Self {
        FimFormat::Family(family)
    }
}

impl From<FimTemplate> for FimFormat {
    fn from(template: FimTemplate) -> Self {
        FimFormat::Custom(template)
    }
}

/// Renders the completion prompt for the text around the cursor. Chat-only families get a
/// chat prompt that asks for the missing code; all others get raw text with FIM tokens.
pub fn render_fim(format: &FimFormat, input: &FimInput) -> RenderedPrompt {
    match format {
        FimFormat::Family(family) => render_family(*family, input),
        FimFormat::Custom(template) => render_custom(template, input),
    }
}

fn render_family(family: PromptFamily, input: &FimInput) -> RenderedPrompt {
    let Some(tokens) = table::fim_tokens(family) else {
        return chat::hole_filler(family, input);
    };
    let mut stop: Vec<String> = table::stop_words(family)
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let has_snippets = !input.snippets.is_empty();
    let text = match family {
        PromptFamily::QwenCoder if has_snippets => context::qwen_repo(input, &tokens),
        PromptFamily::StarCoder2 if has_snippets => context::starcoder2_repo(input, &tokens),
        PromptFamily::Codestral => {
            let (prefix, headers) = context::codestral_prefix(input);
            if headers {
                stop.push(CODESTRAL_FILE_HEADER_STOP.to_owned());
            }
            tokens.wrap(&prefix, &input.suffix)
        }
        _ => {
            let prefix = context::comment_block(input) + &input.prefix;
            tokens.wrap(&prefix, &input.suffix)
        }
    };
    stop.extend(extra_stops(input));
    RenderedPrompt {
        body: PromptBody::Text(text),
        stop: dedup(stop),
    }
}

fn render_custom(template: &FimTemplate, input: &FimInput) -> RenderedPrompt {
    let prefix = context::comment_block(input) + &input.prefix;
    let text = template.render(&TemplateValues {
        prefix: &prefix,
        suffix: &input.suffix,
        file_name: input.file_name.as_deref().unwrap_or(""),
        language: input
            .language_info()
            .map_or_else(|| input.language.as_deref().unwrap_or(""), |lang| lang.id),
        repo_name: input.repo_name.as_deref().unwrap_or(""),
    });
    RenderedPrompt {
        body: PromptBody::Text(text),
        stop: dedup(extra_stops(input).collect()),
    }
}

fn extra_stops(input: &FimInput) -> impl Iterator<Item = String> {
    let fences_are_content = input.language_info().is_some_and(|l| l.uses_fences());
    COMMON_EXTRA_STOPS
        .iter()
        .filter(move |s| !(fences_are_content && s.starts_with("```")))
        .map(|s| (*s).to_owned())
}

/// Drops repeated stops, keeping the first occurrence's position.
pub(crate) fn dedup(stops: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(stops.len());
    for stop in stops {
        if !stop.is_empty() && !out.contains(&stop) {
            out.push(stop);
        }
    }
    out
}
