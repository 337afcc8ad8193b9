//! The pipeline's prompt stage: what the request's [`Task`] asks for, rendered in the model
//! family's layout, one way for every surface.
//!
//! - Fill-in-the-middle (`Task::Fill`, or a completion prompt with a `suffix`): the family's
//!   FIM layout (or a hole-filler chat prompt for chat-only models), trimmed to the context,
//!   sent raw with the family's stop words. A plain prefix + suffix passes through untouched
//!   to backends that render FIM from the model's own template and tokens (Ollama, the
//!   embedded engine); anything else (vLLM's `/v1/completions` has no `suffix`, and no
//!   backend takes GitLab's context snippets) is rendered here.
//! - A client-templated FIM prompt (`Task::Templated`): only the family's stop words.
//! - A code generation (`Task::Generate`): the family's generation prompt around the
//!   instruction and the code at the cursor, trimmed to the context.
//!
//! Each returns how `postprocess.rs` cleans the answer.

use super::postprocess::Clean;
use crate::pool::Protocol;
use crate::router::ModelEntry;
use devassist_core::prompt::{EstimatingCounter, FimInput, PromptProfile, TokenCounter};
use devassist_core::{GenerateRequest, Message, Prompt, Role, Task};
use serde::Serialize;

/// Tokens left for the answer when the request does not say.
const DEFAULT_COMPLETION_TOKENS: usize = 256;
/// Tokens left for a generated answer when the request does not say.
const DEFAULT_GENERATION_TOKENS: usize = 512;
/// Tokens a chat-shaped message costs beyond its text, for budgets.
const MESSAGE_OVERHEAD: usize = 8;

/// What the prompt stage did with a fill-in-the-middle input, in estimated tokens (GitLab's
/// `tokens_consumption_metadata`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PromptReport {
    pub input_tokens: usize,
    pub output_tokens: usize,
    pub context_tokens_sent: usize,
    pub context_tokens_used: usize,
}

/// The prompt stage's result: how to clean the answer, and what it did to the input.
#[derive(Default)]
pub struct Prepared {
    pub clean: Option<Clean>,
    pub report: Option<PromptReport>,
}

/// Renders the request's task for `route`'s model on a backend speaking `protocol`.
pub fn prepare(route: &ModelEntry, protocol: Protocol, req: &mut GenerateRequest) -> Prepared {
    let profile = &route.settings.prompt;
    let context = req
        .sampling
        .num_ctx
        .map_or(route.settings.context_length, |n| {
            n.min(route.settings.context_length)
        }) as usize;
    match std::mem::take(&mut req.task) {
        Task::AsIs => {
            let Prompt::Completion {
                prompt,
                suffix: Some(suffix),
                template: None,
                ..
            } = &req.prompt
            else {
                return Prepared::default();
            };
            if suffix.is_empty() || protocol.renders_fim() {
                return Prepared::default();
            }
            let input = FimInput::new(prompt.clone(), suffix.clone());
            fill(profile, context, input, req)
        }
        Task::Fill(input) => fill(profile, context, input, req),
        Task::Templated { suffix } => templated(profile, suffix, req),
        Task::Generate { instruction, input } => {
            generate(profile, context, instruction.as_deref(), input, req)
        }
    }
}

fn snippet_tokens(counter: &dyn TokenCounter, input: &FimInput) -> usize {
    input
        .snippets
        .iter()
        .map(|s| counter.count(&s.content))
        .sum()
}

/// Fill in the middle: budget, render, stop words.
fn fill(
    profile: &PromptProfile,
    context: usize,
    mut input: FimInput,
    req: &mut GenerateRequest,
) -> Prepared {
    let ending = input.normalize_line_endings();
    // Clients ask for far more than a completion uses (Continue sends num_predict 4096 with
    // every keystroke): reserving all of it would leave no room for the code itself, so the
    // reservation is capped at a quarter of the context.
    let max_out = req
        .sampling
        .max_tokens
        .map_or(DEFAULT_COMPLETION_TOKENS, |t| t as usize)
        .min(context / 4);
    let counter = EstimatingCounter::default();
    let sent = snippet_tokens(&counter, &input);
    let input = profile.budget(&input, &counter, context, max_out);
    let report = PromptReport {
        input_tokens: counter.count(&input.prefix) + counter.count(&input.suffix),
        output_tokens: 0,
        context_tokens_sent: sent,
        context_tokens_used: snippet_tokens(&counter, &input),
    };
    let rendered = profile.render_fim(&input);
    let chat = rendered.is_chat();
    let stop = rendered.stop.clone();
    req.prompt = rendered.into_prompt();
    for s in &stop {
        if !req.sampling.stop.contains(s) {
            req.sampling.stop.push(s.clone());
        }
    }
    Prepared {
        clean: Some(Clean::Completion {
            stop: req.sampling.stop.clone(),
            suffix: input.suffix,
            chat,
            options: profile.postprocess.clone(),
            ending,
        }),
        report: Some(report),
    }
}

/// A prompt the client templated: a text prompt goes raw to a FIM model and as a user
/// message to a chat model, with the family's stop words; messages go as they are.
fn templated(profile: &PromptProfile, mut suffix: String, req: &mut GenerateRequest) -> Prepared {
    let mut probe = FimInput::new(String::new(), std::mem::take(&mut suffix));
    let ending = probe.normalize_line_endings();
    let (stop, chat) = match &mut req.prompt {
        Prompt::Completion { prompt, .. } => {
            let stop = profile.render_fim(&FimInput::default()).stop;
            if !profile.is_fim() {
                let text = std::mem::take(prompt);
                req.prompt = Prompt::Chat {
                    messages: vec![Message::new(Role::User, text)],
                    tools: Vec::new(),
                };
            }
            req.sampling.stop.clone_from(&stop);
            (stop, !profile.is_fim())
        }
        Prompt::Chat { .. } => (Vec::new(), true),
    };
    Prepared {
        clean: Some(Clean::Completion {
            suffix: probe.suffix,
            stop,
            chat,
            options: profile.postprocess.clone(),
            ending,
        }),
        report: None,
    }
}

/// A code generation: the family's generation prompt, with the code around the cursor
/// trimmed to what the context leaves after the prompt's own words; or, without an
/// instruction, the client's prompt as it is.
fn generate(
    profile: &PromptProfile,
    context: usize,
    instruction: Option<&str>,
    mut input: FimInput,
    req: &mut GenerateRequest,
) -> Prepared {
    let ending = input.normalize_line_endings();
    let Some(instruction) = instruction else {
        return Prepared {
            clean: Some(Clean::Generation {
                prefix: input.prefix,
                options: profile.postprocess.clone(),
                ending,
            }),
            report: None,
        };
    };
    let counter = EstimatingCounter::default();
    let max_out = req
        .sampling
        .max_tokens
        .map_or(DEFAULT_GENERATION_TOKENS, |t| t as usize);
    let bare = FimInput {
        prefix: String::new(),
        suffix: String::new(),
        snippets: Vec::new(),
        ..input.clone()
    };
    let overhead: usize = profile
        .render_generation(instruction, &bare)
        .iter()
        .map(|m| counter.count(&m.content) + MESSAGE_OVERHEAD)
        .sum();
    let context = context.saturating_sub(overhead);
    let input = profile.budget(&input, &counter, context, max_out.min(context / 2));
    req.prompt = Prompt::Chat {
        messages: profile.render_generation(instruction, &input),
        tools: Vec::new(),
    };
    Prepared {
        clean: Some(Clean::Generation {
            prefix: input.prefix,
            options: profile.postprocess.clone(),
            ending,
        }),
        report: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Capability, ModelSettings};
    use crate::pipeline::postprocess::postprocess;
    use devassist_core::Event;
    use devassist_core::prompt::{PromptFamily, PromptProfile};
    use futures::StreamExt;

    fn route(family: PromptFamily, ctx: u32) -> ModelEntry {
        let settings = ModelSettings {
            name: "m".into(),
            backend: "b".into(),
            backends: vec!["b".into()],
            upstream: "m".into(),
            aliases: vec![],
            capabilities: vec![Capability::Completion, Capability::Insert],
            context_length: ctx,
            prompt: PromptProfile::for_family(family),
        };
        ModelEntry {
            info: crate::model_info::ModelInfo::configured(&settings, chrono::Utc::now()),
            settings,
            backends: vec![0],
        }
    }

    fn fim(prefix: &str, suffix: &str, max_tokens: Option<u32>) -> GenerateRequest {
        let mut req = GenerateRequest::new(
            "m",
            Prompt::Completion {
                prompt: prefix.into(),
                suffix: Some(suffix.into()),
                system: None,
                raw: false,
                template: None,
                images: vec![],
            },
        );
        req.sampling.max_tokens = max_tokens;
        req
    }

    fn rendered(req: &GenerateRequest) -> &str {
        match &req.prompt {
            Prompt::Completion { prompt, .. } => prompt,
            Prompt::Chat { .. } => panic!("expected a completion prompt"),
        }
    }

    #[test]
    fn regression_continue_num_predict_4096_kept_no_code() {
        let mut req = fim("def main():\n    ", "\n", Some(4096));
        let post = prepare(
            &route(PromptFamily::QwenCoder, 4096),
            Protocol::OpenAi,
            &mut req,
        );
        assert!(post.clean.is_some());
        assert_eq!(
            rendered(&req),
            "<|fim_prefix|>def main():\n    <|fim_suffix|>\n<|fim_middle|>"
        );
    }

    #[test]
    fn native_fim_backends_and_non_fim_requests_pass_through() {
        let r = route(PromptFamily::QwenCoder, 4096);
        let mut req = fim("a", "b", None);
        assert!(prepare(&r, Protocol::Ollama, &mut req).clean.is_none());
        assert!(prepare(&r, Protocol::Engine, &mut req).clean.is_none());
        assert_eq!(rendered(&req), "a");
        let mut empty_suffix = fim("a", "", None);
        assert!(
            prepare(&r, Protocol::OpenAi, &mut empty_suffix)
                .clean
                .is_none()
        );
    }

    #[tokio::test]
    async fn stream_is_cut_at_the_first_stop_and_crlf_restored() {
        let mut req = fim("x = 1\r\n", "\r\nprint(x)", None);
        let post = prepare(
            &route(PromptFamily::QwenCoder, 4096),
            Protocol::OpenAi,
            &mut req,
        )
        .clean
        .unwrap();
        let events = vec![
            Ok(Event::Text("y = 2\n".into())),
            Ok(Event::Text("z = 3<|endof".into())),
            Ok(Event::Text("text|>garbage".into())),
            Ok(Event::Text("never".into())),
        ];
        let out: Vec<_> = postprocess(futures::stream::iter(events).boxed(), post, true)
            .collect()
            .await;
        let text: String = out
            .iter()
            .filter_map(|e| match e {
                Ok(Event::Text(t)) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "y = 2\r\nz = 3");
        assert!(matches!(out.last(), Some(Ok(Event::Done { .. }))));
    }
}
