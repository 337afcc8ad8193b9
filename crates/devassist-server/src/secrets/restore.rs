//! The restoring layer: an answer that echoes a placeholder gets the secret back, in text,
//! reasoning and tool call arguments, streamed or not.
//!
//! A placeholder may arrive split across chunks (`…<SECRET_GIT` then `HUB_TOKEN_1>…`): text
//! that ends with what may be the start of one of the request's placeholders is held back
//! until the next chunk says, and flushed as it is when the stream changes channel (text to
//! reasoning), sends a tool call, ends or fails. Tool calls arrive whole from every backend
//! (their argument deltas are assembled there), so their arguments are restored in one go.

use super::vault::Vault;
use devassist_core::{Event, EventStream, GatewayError};
use futures::{Stream, StreamExt};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// `stream` with `vault`'s placeholders replaced by their secrets.
pub fn restore(stream: EventStream, vault: Arc<Vault>) -> EventStream {
    Restore {
        inner: Some(stream),
        vault,
        held: None,
        queue: VecDeque::new(),
    }
    .boxed()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Text,
    Reasoning,
}

impl Channel {
    fn event(self, text: String) -> Event {
        match self {
            Channel::Text => Event::Text(text),
            Channel::Reasoning => Event::Reasoning(text),
        }
    }
}

struct Restore {
    inner: Option<EventStream>,
    vault: Arc<Vault>,
    /// The end of a chunk that may begin a placeholder.
    held: Option<(Channel, String)>,
    queue: VecDeque<Result<Event, GatewayError>>,
}

impl Restore {
    /// Sends what is held as it is.
    fn flush(&mut self) {
        if let Some((channel, text)) = self.held.take() {
            self.queue.push_back(Ok(channel.event(text)));
        }
    }

    fn text(&mut self, channel: Channel, chunk: String) {
        let mut text = match self.held.take() {
            Some((held_channel, held)) if held_channel == channel => held + &chunk,
            Some(other) => {
                self.held = Some(other);
                self.flush();
                chunk
            }
            None => chunk,
        };
        let cut = self.vault.safe_end(&text);
        let rest = text.split_off(cut);
        if !rest.is_empty() {
            self.held = Some((channel, rest));
        }
        // An empty chunk with nothing held goes on as it came (some backends start so).
        if !text.is_empty() || self.held.is_none() {
            let restored = self.vault.restore(&text).into_owned();
            self.queue.push_back(Ok(channel.event(restored)));
        }
    }
}

impl Stream for Restore {
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
                Some(Ok(Event::Text(t))) => self.text(Channel::Text, t),
                Some(Ok(Event::Reasoning(t))) => self.text(Channel::Reasoning, t),
                Some(Ok(Event::ToolCall(mut call))) => {
                    self.flush();
                    self.vault.restore_json(&mut call.arguments);
                    self.queue.push_back(Ok(Event::ToolCall(call)));
                }
                Some(other) => {
                    self.flush();
                    self.queue.push_back(other);
                }
                None => {
                    self.inner = None;
                    self.flush();
                }
            }
        }
    }
}
