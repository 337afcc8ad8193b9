//! From a decoded GitLab request to the neutral request the model gets: the FIM input built
//! from `current_file` and `context[]`, trimmed to the model's context and rendered in its
//! family's layout, or the generation prompt, with what [`Clean`] needs for the answer.

use super::answer::Clean;
use super::select::Target;
use super::wire::{ContextItem, CurrentFile, PromptField};
use crate::state::AppState;
use devassist_core::prompt::{EstimatingCounter, FimInput, Snippet, TokenCounter};
use devassist_core::{Feature, GenerateRequest, Message, Prompt, Role};
use serde::Serialize;

/// Tokens a completion may have when `[features.code_completion] max_tokens` is not set
/// (GitLab's own completion prompts allow 64 to 128).
const COMPLETION_MAX_TOKENS: u32 = 128;
/// GitLab's generation prompts allow 512 tokens.
const GENERATION_MAX_TOKENS: u32 = 512;
/// GitLab's chat default.
const CHAT_MAX_TOKENS: u32 = 2048;

/// `tokens_consumption_metadata` of a completion response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TokenMeta {
    pub input_tokens: usize,
    pub output_tokens: usize,
    pub context_tokens_sent: usize,
    pub context_tokens_used: usize,
}

/// A request ready to send, with what its answer needs.
pub struct Plan {
    pub request: GenerateRequest,
    pub clean: Clean,
    pub tokens: Option<TokenMeta>,
}

/// The FIM input of a suggestion: the text around the cursor, the file, and the context
/// items as snippets in the order GitLab sent them (most relevant first).
pub fn fim_input(
    file: &CurrentFile,
    context: &[ContextItem],
    project_path: Option<&str>,
) -> FimInput {
    FimInput {
        prefix: file.content_above_cursor.clone(),
        suffix: file.content_below_cursor.clone(),
        file_name: Some(file.file_name.clone()).filter(|n| !n.is_empty()),
        language: file
            .language_identifier
            .clone()
            .filter(|l| !l.trim().is_empty()),
        repo_name: project_path.map(str::to_owned).filter(|p| !p.is_empty()),
        snippets: context
            .iter()
            .filter(|c| !c.content.trim().is_empty())
            .map(|c| Snippet {
                path: c.name.clone(),
                content: c.content.clone(),
            })
            .collect(),
    }
}

fn request(
    target: &Target,
    st: &AppState,
    prompt: Prompt,
    default_max: u32,
    stream: bool,
) -> GenerateRequest {
    let defaults = st.features.get(target.feature);
    let mut req = GenerateRequest::new(target.label.clone(), prompt);
    req.sampling.max_tokens = Some(defaults.max_tokens.unwrap_or(default_max));
    req.sampling.temperature = defaults.temperature;
    req.stream = stream;
    req
}

fn snippet_tokens(counter: &dyn TokenCounter, input: &FimInput) -> usize {
    input
        .snippets
        .iter()
        .map(|s| counter.count(&s.content))
        .sum()
}

/// A code completion. `prompt` follows `prompt_version`: 1 or an empty version-2 prompt get
/// the model family's FIM prompt; a version-2 string is sent as it is; version-3 messages
/// are sent as a chat.
pub fn completion(
    target: &Target,
    st: &AppState,
    mut input: FimInput,
    prompt: &PromptField,
    stream: bool,
) -> Plan {
    let profile = &target.profile;
    let options = profile.postprocess.clone();
    let ending = input.normalize_line_endings();
    match prompt {
        PromptField::Text(Some(text)) if !text.is_empty() => {
            // A prompt the client templated itself: only the family's stops apply.
            let stop = profile.render_fim(&FimInput::default()).stop;
            let (body, chat) = if profile.is_fim() {
                (raw_prompt(text.clone()), false)
            } else {
                (
                    chat_prompt(vec![Message::new(Role::User, text.clone())]),
                    true,
                )
            };
            let mut req = request(target, st, body, COMPLETION_MAX_TOKENS, stream);
            req.sampling.stop.clone_from(&stop);
            let clean = Clean::Completion {
                suffix: input.suffix,
                stop,
                chat,
                options,
                ending,
            };
            return Plan {
                request: req,
                clean,
                tokens: None,
            };
        }
        PromptField::Messages(Some(messages)) if !messages.is_empty() => {
            let req = request(
                target,
                st,
                chat_prompt(messages.clone()),
                COMPLETION_MAX_TOKENS,
                stream,
            );
            let clean = Clean::Completion {
                suffix: input.suffix,
                stop: Vec::new(),
                chat: true,
                options,
                ending,
            };
            return Plan {
                request: req,
                clean,
                tokens: None,
            };
        }
        _ => {}
    }
    let mut req = request(
        target,
        st,
        raw_prompt(String::new()),
        COMPLETION_MAX_TOKENS,
        stream,
    );
    let max_out = req.sampling.max_tokens.unwrap_or(COMPLETION_MAX_TOKENS) as usize;
    let counter = EstimatingCounter::default();
    let sent = snippet_tokens(&counter, &input);
    let input = profile.budget(
        &input,
        &counter,
        target.context_tokens,
        max_out.min(target.context_tokens / 4),
    );
    let tokens = TokenMeta {
        input_tokens: counter.count(&input.prefix) + counter.count(&input.suffix),
        output_tokens: 0,
        context_tokens_sent: sent,
        context_tokens_used: snippet_tokens(&counter, &input),
    };
    let rendered = profile.render_fim(&input);
    let chat = rendered.is_chat();
    let stop = rendered.stop.clone();
    req.prompt = rendered.into_prompt();
    req.sampling.stop.clone_from(&stop);
    Plan {
        request: req,
        clean: Clean::Completion {
            suffix: input.suffix,
            stop,
            chat,
            options,
            ending,
        },
        tokens: Some(tokens),
    }
}

/// How a generation is asked for.
pub enum Instruction<'a> {
    /// Our generation prompt with this instruction (may be empty).
    Render(&'a str),
    /// The client's own prompt, sent as one user message.
    AsIs(&'a str),
    /// The client's own messages.
    Messages(&'a [Message]),
}

impl<'a> Instruction<'a> {
    /// GitLab's rules: version 2 with a `prompt_id` (what GitLab self-managed sends) or an
    /// empty prompt renders the gateway's prompt; a version-2 string without one is used as
    /// it is; version-3 messages as they are; version 1 renders with no instruction.
    pub fn from_prompt(prompt: &'a PromptField, prompt_id: Option<&str>) -> Self {
        match prompt {
            PromptField::Text(Some(text)) if prompt_id.is_some() || text.trim().is_empty() => {
                Instruction::Render(text)
            }
            PromptField::Text(Some(text)) => Instruction::AsIs(text),
            PromptField::Messages(Some(messages)) if !messages.is_empty() => {
                Instruction::Messages(messages)
            }
            _ => Instruction::Render(""),
        }
    }
}

/// A code generation from an instruction.
pub fn generation(
    target: &Target,
    st: &AppState,
    mut input: FimInput,
    instruction: Instruction<'_>,
    stream: bool,
) -> Plan {
    let profile = &target.profile;
    let options = profile.postprocess.clone();
    let ending = input.normalize_line_endings();
    let (prompt, prefix) = match instruction {
        Instruction::AsIs(text) => (
            chat_prompt(vec![Message::new(Role::User, text)]),
            input.prefix,
        ),
        Instruction::Messages(messages) => (chat_prompt(messages.to_vec()), input.prefix),
        Instruction::Render(text) => {
            let counter = EstimatingCounter::default();
            let max_out = st
                .features
                .get(Feature::CodeGeneration)
                .max_tokens
                .unwrap_or(GENERATION_MAX_TOKENS) as usize;
            // The generation prompt's own words take room the FIM budget does not count.
            let bare = FimInput {
                prefix: String::new(),
                suffix: String::new(),
                snippets: Vec::new(),
                ..input.clone()
            };
            let overhead: usize = profile
                .render_generation(text, &bare)
                .iter()
                .map(|m| counter.count(&m.content) + 8)
                .sum();
            let context = target.context_tokens.saturating_sub(overhead);
            let input = profile.budget(&input, &counter, context, max_out.min(context / 2));
            (
                chat_prompt(profile.render_generation(text, &input)),
                input.prefix,
            )
        }
    };
    Plan {
        request: request(target, st, prompt, GENERATION_MAX_TOKENS, stream),
        clean: Clean::Generation {
            prefix,
            options,
            ending,
        },
        tokens: None,
    }
}

/// A chat turn, sent as it is.
pub fn chat(target: &Target, st: &AppState, messages: Vec<Message>, stream: bool) -> Plan {
    Plan {
        request: request(target, st, chat_prompt(messages), CHAT_MAX_TOKENS, stream),
        clean: Clean::None,
        tokens: None,
    }
}

fn raw_prompt(prompt: String) -> Prompt {
    Prompt::Completion {
        prompt,
        suffix: None,
        system: None,
        raw: true,
        template: None,
        images: Vec::new(),
    }
}

fn chat_prompt(messages: Vec<Message>) -> Prompt {
    Prompt::Chat {
        messages,
        tools: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_instructions_follow_gitlab_rules() {
        let text = PromptField::Text(Some("write a parser".into()));
        assert!(matches!(
            Instruction::from_prompt(&text, Some("code_suggestions/generations")),
            Instruction::Render("write a parser")
        ));
        assert!(matches!(
            Instruction::from_prompt(&text, None),
            Instruction::AsIs("write a parser")
        ));
        let empty = PromptField::Text(Some(String::new()));
        assert!(matches!(
            Instruction::from_prompt(&empty, None),
            Instruction::Render("")
        ));
        assert!(matches!(
            Instruction::from_prompt(&PromptField::Built, None),
            Instruction::Render("")
        ));
    }
}
