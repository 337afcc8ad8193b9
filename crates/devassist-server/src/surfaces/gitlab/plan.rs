//! From a decoded GitLab request to the neutral request the model gets: the FIM input built
//! from `current_file` and `context[]`, the task GitLab's prompt fields ask for
//! (`prompt_version` rules) and GitLab's default limits. The pipeline's prompt stage renders
//! it in the model family's layout and cleans the answer, as for every other surface.

use super::select::Target;
use super::wire::{ContextItem, CurrentFile, PromptField};
use crate::state::AppState;
use devassist_core::prompt::{FimInput, Snippet};
use devassist_core::{GenerateRequest, Message, Prompt, Role, Task};

/// Tokens a completion may have when `[features.code_completion] max_tokens` is not set
/// (GitLab's own completion prompts allow 64 to 128).
const COMPLETION_MAX_TOKENS: u32 = 128;
/// GitLab's generation prompts allow 512 tokens.
const GENERATION_MAX_TOKENS: u32 = 512;
/// GitLab's chat default.
const CHAT_MAX_TOKENS: u32 = 2048;

/// `tokens_consumption_metadata` of a completion response.
pub type TokenMeta = crate::pipeline::PromptReport;

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

/// A code completion. `prompt` follows `prompt_version`: 1 or an empty version-2 prompt get
/// the model family's FIM prompt; a version-2 string is sent as it is; version-3 messages
/// are sent as a chat. The pipeline's prompt stage renders and cleans either way.
pub fn completion(
    target: &Target,
    st: &AppState,
    input: FimInput,
    prompt: &PromptField,
    stream: bool,
) -> GenerateRequest {
    let (body, task) = match prompt {
        PromptField::Text(Some(text)) if !text.is_empty() => (
            raw_prompt(text.clone()),
            Task::Templated {
                suffix: input.suffix,
            },
        ),
        PromptField::Messages(Some(messages)) if !messages.is_empty() => (
            chat_prompt(messages.clone()),
            Task::Templated {
                suffix: input.suffix,
            },
        ),
        _ => (raw_prompt(String::new()), Task::Fill(input)),
    };
    let mut req = request(target, st, body, COMPLETION_MAX_TOKENS, stream);
    req.task = task;
    req
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
    input: FimInput,
    instruction: Instruction<'_>,
    stream: bool,
) -> GenerateRequest {
    let (prompt, task) = match instruction {
        Instruction::AsIs(text) => (
            chat_prompt(vec![Message::new(Role::User, text)]),
            Task::Generate {
                instruction: None,
                input,
            },
        ),
        Instruction::Messages(messages) => (
            chat_prompt(messages.to_vec()),
            Task::Generate {
                instruction: None,
                input,
            },
        ),
        Instruction::Render(text) => (
            chat_prompt(Vec::new()),
            Task::Generate {
                instruction: Some(text.to_owned()),
                input,
            },
        ),
    };
    let mut req = request(target, st, prompt, GENERATION_MAX_TOKENS, stream);
    req.task = task;
    req
}

/// A chat turn, sent as it is.
pub fn chat(
    target: &Target,
    st: &AppState,
    messages: Vec<Message>,
    stream: bool,
) -> GenerateRequest {
    request(target, st, chat_prompt(messages), CHAT_MAX_TOKENS, stream)
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
