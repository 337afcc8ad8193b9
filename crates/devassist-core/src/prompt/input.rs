//! What a completion prompt is built from, and what rendering produces.

use super::budget::TokenCounter;
use super::language::{self, Language};
use crate::request::{Message, Prompt};
use serde::{Deserialize, Serialize};

/// Another file's text offered to the model as context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snippet {
    pub path: String,
    pub content: String,
}

/// The text around the cursor and what we know about the file. Snippets are in priority
/// order: budgeting drops them from the end first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FimInput {
    pub prefix: String,
    pub suffix: String,
    pub file_name: Option<String>,
    /// Language name or id as the client sent it (`python`, `Python`, `py`).
    pub language: Option<String>,
    pub repo_name: Option<String>,
    pub snippets: Vec<Snippet>,
}

impl FimInput {
    pub fn new(prefix: impl Into<String>, suffix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            suffix: suffix.into(),
            ..Self::default()
        }
    }

    /// The file's language: the one the client named if we know it, else from the file name.
    pub fn language_info(&self) -> Option<&'static Language> {
        self.language
            .as_deref()
            .and_then(language::lookup)
            .or_else(|| self.file_name.as_deref().and_then(language::from_path))
    }

    /// The language for prose: our display name, else what the client sent.
    pub fn language_name(&self) -> Option<&str> {
        match self.language_info() {
            Some(lang) => Some(lang.display),
            None => self.language.as_deref().filter(|l| !l.trim().is_empty()),
        }
    }

    /// Rewrites CRLF line endings to LF in every text field (models are trained on LF) and
    /// says which ending the file used, so the completion can be converted back.
    pub fn normalize_line_endings(&mut self) -> LineEnding {
        let ending = if self.prefix.contains("\r\n") || self.suffix.contains("\r\n") {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        };
        for text in [&mut self.prefix, &mut self.suffix]
            .into_iter()
            .chain(self.snippets.iter_mut().map(|s| &mut s.content))
        {
            if text.contains("\r\n") {
                *text = text.replace("\r\n", "\n");
            }
        }
        ending
    }

    /// A copy with no code: the part of the prompt that budgeting cannot shrink.
    pub(crate) fn without_code(&self) -> FimInput {
        FimInput {
            prefix: String::new(),
            suffix: String::new(),
            snippets: Vec::new(),
            ..self.clone()
        }
    }
}

/// The line ending a file uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    Lf,
    CrLf,
}

impl LineEnding {
    /// Converts a completion produced for LF input back to this ending.
    pub fn restore(self, text: &str) -> String {
        match self {
            LineEnding::Lf => text.to_owned(),
            LineEnding::CrLf => {
                let mut out = String::with_capacity(text.len() + text.len() / 16);
                let mut previous = '\0';
                for c in text.chars() {
                    if c == '\n' && previous != '\r' {
                        out.push('\r');
                    }
                    out.push(c);
                    previous = c;
                }
                out
            }
        }
    }
}

/// What goes upstream: raw text with the FIM tokens in it, or chat messages for the backend's
/// own chat template.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptBody {
    /// Send as a completion with `raw: true` (no server-side template).
    Text(String),
    /// Send as a chat request.
    Chat(Vec<Message>),
}

/// A rendered prompt and the stop strings that belong to it.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedPrompt {
    pub body: PromptBody,
    pub stop: Vec<String>,
}

/// Chat templates wrap each message in role markers; this many tokens covers the common ones.
const CHAT_MESSAGE_OVERHEAD_TOKENS: usize = 8;

impl RenderedPrompt {
    pub fn text(&self) -> Option<&str> {
        match &self.body {
            PromptBody::Text(text) => Some(text),
            PromptBody::Chat(_) => None,
        }
    }

    pub fn messages(&self) -> Option<&[Message]> {
        match &self.body {
            PromptBody::Text(_) => None,
            PromptBody::Chat(messages) => Some(messages),
        }
    }

    pub fn is_chat(&self) -> bool {
        matches!(self.body, PromptBody::Chat(_))
    }

    /// The prompt's size in tokens; for chat, the messages plus an allowance per message for
    /// the template's role markers.
    pub fn count_tokens(&self, counter: &dyn TokenCounter) -> usize {
        match &self.body {
            PromptBody::Text(text) => counter.count(text),
            PromptBody::Chat(messages) => messages
                .iter()
                .map(|m| counter.count(&m.content) + CHAT_MESSAGE_OVERHEAD_TOKENS)
                .sum(),
        }
    }

    /// The neutral prompt to hand a backend. Stops are not included: they belong in
    /// `Sampling::stop`, merged with the client's own.
    pub fn into_prompt(self) -> Prompt {
        match self.body {
            PromptBody::Text(prompt) => Prompt::Completion {
                prompt,
                suffix: None,
                system: None,
                raw: true,
                template: None,
                images: Vec::new(),
            },
            PromptBody::Chat(messages) => Prompt::Chat {
                messages,
                tools: Vec::new(),
            },
        }
    }
}
