//! Every text a generation request carries to a backend, for redacting and restoring: chat
//! messages (content, reasoning, tool call arguments; tool results are messages too), tool
//! definitions, completion prompts, FIM suffixes and systems, and the task's input (prefix,
//! suffix, context snippets, the instruction). Not images (base64 a pattern could match by
//! chance), file names, stop words or templates.

use super::detect::Detector;
use super::vault::{Vault, walk_json};
use devassist_core::prompt::FimInput;
use devassist_core::{EmbedRequest, GenerateRequest, Prompt, Task};

/// Calls `f` on every text of `req` that reaches the backend.
pub fn each_text(req: &mut GenerateRequest, f: &mut dyn FnMut(&mut String)) {
    match &mut req.prompt {
        Prompt::Chat { messages, tools } => {
            for m in messages {
                f(&mut m.content);
                if let Some(thinking) = &mut m.thinking {
                    f(thinking);
                }
                for call in &mut m.tool_calls {
                    walk_json(&mut call.arguments, f);
                }
            }
            for tool in tools {
                walk_json(tool, f);
            }
        }
        Prompt::Completion {
            prompt,
            suffix,
            system,
            ..
        } => {
            f(prompt);
            if let Some(s) = suffix {
                f(s);
            }
            if let Some(s) = system {
                f(s);
            }
        }
    }
    let input = |input: &mut FimInput, f: &mut dyn FnMut(&mut String)| {
        f(&mut input.prefix);
        f(&mut input.suffix);
        for s in &mut input.snippets {
            f(&mut s.content);
        }
    };
    match &mut req.task {
        Task::AsIs => {}
        Task::Fill(fim) => input(fim, f),
        Task::Templated { suffix } => f(suffix),
        Task::Generate {
            instruction,
            input: fim,
        } => {
            if let Some(i) = instruction {
                f(i);
            }
            input(fim, f);
        }
    }
}

/// Replaces the secrets in every text of `req`; returns how many.
pub fn redact_request(vault: &mut Vault, detector: &Detector, req: &mut GenerateRequest) -> usize {
    let mut n = 0;
    each_text(req, &mut |s| n += vault.redact(detector, s));
    n
}

/// Puts the secrets back into every text of `req`.
pub fn restore_request(vault: &Vault, req: &mut GenerateRequest) {
    if vault.is_empty() {
        return;
    }
    each_text(req, &mut |s| {
        if let std::borrow::Cow::Owned(restored) = vault.restore(s) {
            *s = restored;
        }
    });
}

/// Replaces the secrets in an embeddings request's inputs; returns how many.
pub fn redact_embed(vault: &mut Vault, detector: &Detector, req: &mut EmbedRequest) -> usize {
    req.input
        .iter_mut()
        .map(|s| vault.redact(detector, s))
        .sum()
}
