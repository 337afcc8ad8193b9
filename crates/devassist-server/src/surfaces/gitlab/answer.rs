//! What happens to a model's answer before it is encoded: the clean-up of a whole answer
//! (stop words, suffix overlap and whitespace for completions; fences and chatter for
//! generations), and the cleaned text stream (stop words only, CRLF restored).

use crate::state::Started;
use crate::surfaces::stream::{Collected, collect};
use devassist_core::postprocess::{
    CompletionContext, PostprocessOptions, StreamStopper, postprocess_completion,
    postprocess_generation,
};
use devassist_core::prompt::LineEnding;
use devassist_core::{Event, EventStream, GatewayError};
use futures::{Stream, StreamExt};

/// How the answer is cleaned.
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
    /// Chat answers are passed on as the model wrote them.
    None,
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
            Clean::None => text.to_owned(),
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
            Clean::None => LineEnding::Lf,
        }
    }
}

/// Collects a whole answer and cleans it.
pub async fn whole(started: Started, clean: &Clean) -> Result<(String, Collected), GatewayError> {
    let collected = collect(started).await?;
    Ok((clean.whole(&collected.text), collected))
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

struct TextState {
    inner: EventStream,
    stopper: StreamStopper,
    restorer: Restorer,
    done: bool,
    request_id: String,
}

/// The answer as cleaned text chunks: cut at the first stop string, CRLF restored. The
/// stream ends at the stop, which drops the upstream stream and so cancels the generation.
/// An error after the start ends the stream too: GitLab's raw-text and SSE streams have no
/// way to report one.
pub fn text_stream(
    started: Started,
    clean: &Clean,
    request_id: String,
) -> impl Stream<Item = String> + Send + 'static {
    let state = TextState {
        inner: started.into_stream(),
        stopper: clean.stopper(),
        restorer: Restorer {
            ending: clean.ending(),
            last_was_cr: false,
        },
        done: false,
        request_id,
    };
    futures::stream::unfold(state, |mut s| async move {
        while !s.done {
            let out = match s.inner.next().await? {
                Ok(Event::Text(t)) => {
                    let text = s.stopper.push(&t);
                    s.done = s.stopper.is_stopped();
                    s.restorer.restore(text)
                }
                Ok(Event::Done { .. }) => {
                    s.done = true;
                    let rest = s.stopper.finish();
                    s.restorer.restore(rest)
                }
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(request_id = %s.request_id, error = %e, "Stream failed after it started");
                    return None;
                }
            };
            if !out.is_empty() {
                return Some((out, s));
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(events: Vec<Result<Event, GatewayError>>) -> Started {
        let mut it = events.into_iter();
        let first = match it.next() {
            Some(Ok(e)) => e,
            _ => Event::Text(String::new()),
        };
        let rest: EventStream = futures::stream::iter(it.collect::<Vec<_>>()).boxed();
        Started { first, rest }
    }

    fn done() -> Result<Event, GatewayError> {
        Ok(Event::done(Default::default(), Default::default()))
    }

    #[tokio::test]
    async fn streams_stop_at_stop_words_and_restore_crlf() {
        let clean = Clean::Completion {
            suffix: String::new(),
            stop: vec!["<|endoftext|>".into()],
            chat: false,
            options: PostprocessOptions::default(),
            ending: LineEnding::CrLf,
        };
        let s = started(vec![
            Ok(Event::Text("a\r".into())),
            Ok(Event::Text("\nb\n<|endof".into())),
            Ok(Event::Text("text|> tail".into())),
            Ok(Event::Text("never".into())),
            done(),
        ]);
        let chunks: Vec<String> = text_stream(s, &clean, "rid".into()).collect().await;
        assert_eq!(chunks.concat(), "a\r\nb\r\n");
    }

    #[tokio::test]
    async fn an_error_mid_stream_ends_it() {
        let s = started(vec![
            Ok(Event::Text("one ".into())),
            Err(GatewayError::backend_error("gone")),
            Ok(Event::Text("two".into())),
        ]);
        let chunks: Vec<String> = text_stream(s, &Clean::None, "rid".into()).collect().await;
        assert_eq!(chunks, ["one "]);
    }
}
