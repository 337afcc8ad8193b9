//! Model-family prompting inside the pipeline: a fill-in-the-middle request is rendered in
//! the model's own FIM layout (or a hole-filler chat prompt for chat-only models), trimmed to
//! its context, sent with the family's stop words, and its answer post-processed — for
//! upstreams that do not render FIM themselves (OpenAI-compatible servers: vLLM's
//! `/v1/completions` has no `suffix`). Ollama and the embedded engine render FIM from the
//! model's own template and tokens, so their requests pass through untouched.

use crate::router::ModelEntry;
use devassist_core::postprocess::{
    CompletionContext, PostprocessOptions, StreamStopper, postprocess_completion,
};
use devassist_core::prompt::{EstimatingCounter, FimInput, LineEnding};
use devassist_core::{
    Event, EventStream, FinishReason, GatewayError, GenerateRequest, Prompt, Usage,
};
use futures::{Stream, StreamExt};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Tokens left for the answer when the request does not say.
const DEFAULT_COMPLETION_TOKENS: usize = 256;

/// What the answer is cleaned against.
pub struct CompletionPost {
    stop: Vec<String>,
    suffix: String,
    chat: bool,
    options: PostprocessOptions,
    ending: LineEnding,
}

/// Whether a backend kind renders FIM from `prompt` + `suffix` itself.
pub fn renders_fim(kind: &str) -> bool {
    matches!(kind, "ollama" | "engine")
}

/// Rewrites a FIM request into the model family's prompt. Returns how to post-process the
/// answer, or `None` when the request is not FIM (or the backend renders FIM itself).
pub fn prepare(
    route: &ModelEntry,
    backend_kind: &str,
    req: &mut GenerateRequest,
) -> Option<CompletionPost> {
    if renders_fim(backend_kind) {
        return None;
    }
    let Prompt::Completion {
        prompt,
        suffix: Some(suffix),
        template: None,
        ..
    } = &req.prompt
    else {
        return None;
    };
    if suffix.is_empty() {
        return None;
    }
    let mut input = FimInput::new(prompt.clone(), suffix.clone());
    let ending = input.normalize_line_endings();
    let profile = &route.settings.prompt;
    let context = req
        .sampling
        .num_ctx
        .map_or(route.settings.context_length, |n| {
            n.min(route.settings.context_length)
        }) as usize;
    // Clients ask for far more than a completion uses (Continue sends num_predict 4096 with
    // every keystroke): reserving all of it would leave no room for the code itself, so the
    // reservation is capped at a quarter of the context.
    let max_out = req
        .sampling
        .max_tokens
        .map_or(DEFAULT_COMPLETION_TOKENS, |t| t as usize)
        .min(context / 4);
    let counter = EstimatingCounter::new(3);
    let input = profile.budget(&input, &counter, context, max_out);
    let rendered = profile.render_fim(&input);
    let chat = rendered.is_chat();
    let stop = rendered.stop.clone();
    req.prompt = rendered.into_prompt();
    for s in &stop {
        if !req.sampling.stop.contains(s) {
            req.sampling.stop.push(s.clone());
        }
    }
    Some(CompletionPost {
        stop: req.sampling.stop.clone(),
        suffix: input.suffix,
        chat,
        options: profile.postprocess.clone(),
        ending,
    })
}

/// Applies `post` to a generation: text is checked against the stop strings as it arrives
/// and the upstream is dropped at the first one. Streamed text is cut at stops only; a
/// non-streamed answer gets the whole clean-up (suffix overlap, trailing whitespace, line
/// limit).
pub fn postprocess(stream: EventStream, post: CompletionPost, streaming: bool) -> EventStream {
    let stopper = StreamStopper::new(if post.options.stop_at_stop_words {
        post.stop.clone()
    } else {
        Vec::new()
    });
    Post {
        inner: Some(stream),
        post,
        streaming,
        stopper,
        whole: String::new(),
        emitted: 0,
        queue: VecDeque::new(),
    }
    .boxed()
}

struct Post {
    /// Dropped at the first stop string, which cancels the upstream request.
    inner: Option<EventStream>,
    post: CompletionPost,
    streaming: bool,
    stopper: StreamStopper,
    whole: String,
    emitted: u32,
    queue: VecDeque<Result<Event, GatewayError>>,
}

impl Post {
    fn push_text(&mut self, text: String) {
        if !text.is_empty() {
            let text = self.post.ending.restore(&text);
            self.queue.push_back(Ok(Event::Text(text)));
        }
    }

    /// Ends the generation: the rest of the text, then `done`.
    fn finish(&mut self, done: Event) {
        self.inner = None;
        let text = if self.streaming {
            self.stopper.finish()
        } else {
            let ctx = CompletionContext {
                suffix: &self.post.suffix,
                stop: &self.post.stop,
                chat: self.post.chat,
            };
            postprocess_completion(&std::mem::take(&mut self.whole), &ctx, &self.post.options)
        };
        self.push_text(text);
        self.queue.push_back(Ok(done));
    }
}

impl Stream for Post {
    type Item = Result<Event, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Poll::Ready(Some(item));
            }
            let Some(inner) = self.inner.as_mut() else {
                return Poll::Ready(None);
            };
            let item = match inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(item) => item,
            };
            match item {
                Some(Ok(Event::Text(t))) => {
                    self.emitted += 1;
                    let out = self.stopper.push(&t);
                    if self.streaming {
                        self.push_text(out);
                    } else {
                        self.whole.push_str(&t);
                    }
                    if self.stopper.is_stopped() {
                        let usage = Usage {
                            prompt_tokens: 0,
                            completion_tokens: self.emitted,
                        };
                        self.finish(Event::done(FinishReason::Stop, usage));
                    }
                }
                Some(Ok(done @ Event::Done { .. })) => self.finish(done),
                Some(other) => return Poll::Ready(Some(other)),
                None => {
                    self.inner = None;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Capability, ModelSettings};
    use devassist_core::prompt::{PromptFamily, PromptProfile};

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
        let post = prepare(&route(PromptFamily::QwenCoder, 4096), "openai", &mut req);
        assert!(post.is_some());
        assert_eq!(
            rendered(&req),
            "<|fim_prefix|>def main():\n    <|fim_suffix|>\n<|fim_middle|>"
        );
    }

    #[test]
    fn native_fim_backends_and_non_fim_requests_pass_through() {
        let r = route(PromptFamily::QwenCoder, 4096);
        let mut req = fim("a", "b", None);
        assert!(prepare(&r, "ollama", &mut req).is_none());
        assert!(prepare(&r, "engine", &mut req).is_none());
        assert_eq!(rendered(&req), "a");
        let mut empty_suffix = fim("a", "", None);
        assert!(prepare(&r, "openai", &mut empty_suffix).is_none());
    }

    #[tokio::test]
    async fn stream_is_cut_at_the_first_stop_and_crlf_restored() {
        let mut req = fim("x = 1\r\n", "\r\nprint(x)", None);
        let post = prepare(&route(PromptFamily::QwenCoder, 4096), "openai", &mut req).unwrap();
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
