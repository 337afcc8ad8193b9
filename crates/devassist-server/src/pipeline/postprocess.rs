//! The post-processing layer: the answer cleaned as the prompt stage (`prompt.rs`) asked.
//!
//! Streamed text is cut at the first stop string (the upstream request is dropped there)
//! and gets its CRLF line endings back; a whole answer (not streamed) gets the full
//! clean-up: for a completion the stop strings, text repeating the suffix and trailing
//! whitespace; for a generation Markdown fences and chatter. Each step is switchable per
//! model (`[models.prompt.postprocess]`).

use devassist_core::postprocess::{
    CompletionContext, PostprocessOptions, StreamStopper, postprocess_completion,
    postprocess_generation,
};
use devassist_core::prompt::LineEnding;
use devassist_core::{Event, EventStream, FinishReason, GatewayError, Usage};
use futures::{Stream, StreamExt};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How an answer is cleaned.
#[derive(Debug, Clone)]
pub enum Clean {
    Completion {
        suffix: String,
        stop: Vec<String>,
        chat: bool,
        options: PostprocessOptions,
        ending: LineEnding,
    },
    Generation {
        prefix: String,
        options: PostprocessOptions,
        ending: LineEnding,
    },
}

impl Clean {
    /// Cleans a whole answer.
    pub fn whole(&self, text: &str) -> String {
        match self {
            Clean::Completion {
                suffix,
                stop,
                chat,
                options,
                ending,
            } => {
                let ctx = CompletionContext {
                    suffix,
                    stop,
                    chat: *chat,
                };
                ending.restore(&postprocess_completion(text, &ctx, options))
            }
            Clean::Generation {
                prefix,
                options,
                ending,
            } => ending.restore(&postprocess_generation(text, prefix, options)),
        }
    }

    fn stopper(&self) -> StreamStopper {
        match self {
            Clean::Completion { stop, options, .. } if options.stop_at_stop_words => {
                StreamStopper::new(stop.clone())
            }
            _ => StreamStopper::default(),
        }
    }

    fn ending(&self) -> LineEnding {
        match self {
            Clean::Completion { ending, .. } | Clean::Generation { ending, .. } => *ending,
        }
    }
}

/// Puts CRLF back into streamed text, remembering a `\r` that ended the previous chunk.
struct Restorer {
    ending: LineEnding,
    last_was_cr: bool,
}

impl Restorer {
    fn restore(&mut self, text: String) -> String {
        if self.ending == LineEnding::Lf || text.is_empty() {
            return text;
        }
        let mut out = self.ending.restore(&text);
        // A `\r\n` split across chunks must not become `\r\r\n`.
        if self.last_was_cr && text.starts_with('\n') {
            out.remove(0);
        }
        self.last_was_cr = text.ends_with('\r');
        out
    }
}

/// Applies `clean` to a generation.
pub fn postprocess(stream: EventStream, clean: Clean, streaming: bool) -> EventStream {
    Post {
        inner: Some(stream),
        stopper: clean.stopper(),
        restorer: Restorer {
            ending: clean.ending(),
            last_was_cr: false,
        },
        clean,
        streaming,
        whole: String::new(),
        emitted: 0,
        queue: VecDeque::new(),
    }
    .boxed()
}

struct Post {
    /// Dropped at the first stop string, which cancels the upstream request.
    inner: Option<EventStream>,
    clean: Clean,
    streaming: bool,
    stopper: StreamStopper,
    restorer: Restorer,
    whole: String,
    emitted: u32,
    queue: VecDeque<Result<Event, GatewayError>>,
}

impl Post {
    fn push_text(&mut self, text: String) {
        if !text.is_empty() {
            self.queue.push_back(Ok(Event::Text(text)));
        }
    }

    /// Ends the generation: the rest of the text, then `done`.
    fn finish(&mut self, done: Event) {
        self.inner = None;
        let text = if self.streaming {
            let rest = self.stopper.finish();
            self.restorer.restore(rest)
        } else {
            self.clean.whole(&std::mem::take(&mut self.whole))
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
                        let out = self.restorer.restore(out);
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

    fn done() -> Result<Event, GatewayError> {
        Ok(Event::done(Default::default(), Default::default()))
    }

    async fn texts(stream: EventStream) -> Vec<String> {
        stream
            .filter_map(|e| async move {
                match e {
                    Ok(Event::Text(t)) => Some(t),
                    _ => None,
                }
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn streams_stop_at_stop_words_and_restore_a_crlf_split_across_chunks() {
        let clean = Clean::Completion {
            suffix: String::new(),
            stop: vec!["<|endoftext|>".into()],
            chat: false,
            options: PostprocessOptions::default(),
            ending: LineEnding::CrLf,
        };
        let events = vec![
            Ok(Event::Text("a\r".into())),
            Ok(Event::Text("\nb\n<|endof".into())),
            Ok(Event::Text("text|> tail".into())),
            Ok(Event::Text("never".into())),
            done(),
        ];
        let out = postprocess(futures::stream::iter(events).boxed(), clean, true);
        assert_eq!(texts(out).await.concat(), "a\r\nb\r\n");
    }

    #[tokio::test]
    async fn a_whole_generation_loses_its_fences() {
        let clean = Clean::Generation {
            prefix: String::new(),
            options: PostprocessOptions::default(),
            ending: LineEnding::Lf,
        };
        let events = vec![
            Ok(Event::Text("```python\nprint(1)\n".into())),
            Ok(Event::Text("```\n".into())),
            done(),
        ];
        let out = postprocess(futures::stream::iter(events).boxed(), clean, false);
        assert_eq!(texts(out).await.concat(), "print(1)");
    }
}
