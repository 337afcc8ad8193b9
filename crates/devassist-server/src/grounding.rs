//! Grounded chat: when the chat feature has a docs index, the best passages for the user's
//! question go into the prompt as numbered sources, the model is asked to cite them as `[n]`,
//! and the answer ends with the list of sources it cited. A request opts out with the header
//! `X-Devassist-Grounding: off`.

use crate::config::DocsSettings;
use devassist_core::{Event, EventStream, GatewayError, GenerateRequest, Message, Prompt, Role};
use devassist_search::api::DocsIndexes;
use devassist_search::grounding::Source;
use futures::{Stream, StreamExt};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The request header that turns grounding off for one request.
pub const OPT_OUT_HEADER: &str = "x-devassist-grounding";

/// Longest question text searched for; the rest of a long message adds noise, not recall.
const MAX_QUERY_CHARS: usize = 500;

/// Adds numbered sources to a chat request. Returns the sources used (empty: none found,
/// or not a chat request).
pub async fn ground(
    docs: &Arc<DocsIndexes>,
    settings: &DocsSettings,
    index: &str,
    req: &mut GenerateRequest,
) -> Result<Vec<Source>, GatewayError> {
    let Prompt::Chat { messages, .. } = &mut req.prompt else {
        return Ok(Vec::new());
    };
    let Some(question) = messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.chars().take(MAX_QUERY_CHARS).collect::<String>())
        .filter(|q| !q.trim().is_empty())
    else {
        return Ok(Vec::new());
    };
    let docs = docs.clone();
    let index = index.to_string();
    let (n, budget) = (settings.chat_sources, settings.chat_token_budget);
    let grounding = tokio::task::spawn_blocking(move || {
        docs.get(Some(&index))
            .and_then(|s| s.ground(&question, n, budget))
    })
    .await
    .map_err(|e| GatewayError::internal(format!("docs search task failed: {e}")))?;
    let grounding = match grounding {
        Ok(g) => g,
        // A question that is not searchable (only punctuation, say) is answered ungrounded.
        Err(e) if e.class() == devassist_search::ErrorClass::BadRequest => return Ok(Vec::new()),
        Err(e) => return Err(GatewayError::internal(format!("docs search failed: {e}"))),
    };
    if grounding.sources.is_empty() {
        return Ok(Vec::new());
    }
    let block = grounding.prompt_block();
    match messages.first_mut() {
        Some(first) if first.role == Role::System => {
            first.content = format!("{}\n\n{block}", first.content);
        }
        _ => messages.insert(0, Message::new(Role::System, block)),
    }
    Ok(grounding.sources)
}

/// Ends the answer with the sources it cited (all of them when it cited none).
pub fn list_sources(stream: EventStream, sources: Vec<Source>) -> EventStream {
    Cited {
        inner: stream,
        sources,
        text: String::new(),
        queue: VecDeque::new(),
        done: false,
    }
    .boxed()
}

struct Cited {
    inner: EventStream,
    sources: Vec<Source>,
    text: String,
    queue: VecDeque<Result<Event, GatewayError>>,
    done: bool,
}

fn footer(sources: &[Source], answer: &str) -> String {
    let cited: Vec<&Source> = sources
        .iter()
        .filter(|s| answer.contains(&format!("[{}]", s.n)))
        .collect();
    let shown: Vec<&Source> = if cited.is_empty() {
        sources.iter().collect()
    } else {
        cited
    };
    let mut out = String::from("\n\nSources:");
    for s in shown {
        let title = if s.heading.is_empty() {
            s.title.clone()
        } else {
            format!("{} › {}", s.title, s.heading)
        };
        out.push_str(&format!("\n[{}] {} — {}", s.n, title, s.url));
    }
    out
}

impl Stream for Cited {
    type Item = Result<Event, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(item) = self.queue.pop_front() {
            return Poll::Ready(Some(item));
        }
        if self.done {
            return Poll::Ready(None);
        }
        match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(Event::Text(t)))) => {
                self.text.push_str(&t);
                Poll::Ready(Some(Ok(Event::Text(t))))
            }
            Poll::Ready(Some(Ok(done @ Event::Done { .. }))) => {
                self.done = true;
                let footer = footer(&self.sources, &self.text);
                self.queue.push_back(Ok(done));
                Poll::Ready(Some(Ok(Event::Text(footer))))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: usize) -> Source {
        Source {
            n,
            title: format!("Page {n}"),
            url: format!("https://docs/{n}"),
            path: format!("{n}.md"),
            heading: String::new(),
        }
    }

    #[test]
    fn footer_lists_cited_sources_or_all() {
        let sources = vec![source(1), source(2), source(3)];
        assert_eq!(
            footer(&sources, "Use X [2]."),
            "\n\nSources:\n[2] Page 2 — https://docs/2"
        );
        assert!(footer(&sources, "No citation.").contains("[3] Page 3"));
    }
}
