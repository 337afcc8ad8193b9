//! The body pump: reads upstream chunks under the idle and total deadlines, feeds them to a
//! wire-format decoder and hands out neutral events.
//!
//! `start` reads ahead to the first event so that anything that goes wrong before it
//! (garbage, an error line, a dead upstream) is returned as an error before the gateway
//! has written a byte; later failures become the stream's last item. Dropping the stream
//! drops the response, which closes the upstream connection and cancels the generation.

use super::h1::{self, Response};
use super::{Upstream, error};
use bytes::Bytes;
use devassist_core::{Event, EventStream, GatewayError};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Reads a response body chunk by chunk, under the idle timeout and the call's deadline.
///
/// Holds the body alone: the response head is not needed past the status check.
pub(crate) struct BodyReader {
    body: h1::Body,
    idle: Duration,
    deadline: Option<Instant>,
    total: Duration,
    host: Arc<str>,
}

impl BodyReader {
    /// `deadline: None` for bodies that may legitimately run long (model pulls).
    pub fn new(response: Response, upstream: &Upstream, deadline: Option<Instant>) -> Self {
        Self {
            body: response.body,
            idle: upstream.idle_timeout,
            deadline,
            total: upstream.request_timeout,
            host: upstream.host.clone(),
        }
    }

    pub async fn chunk(&mut self) -> Result<Option<Bytes>, GatewayError> {
        let idle_at = Instant::now() + self.idle;
        let (at, is_total) = match self.deadline {
            Some(deadline) if deadline <= idle_at => (deadline, true),
            _ => (idle_at, false),
        };
        match tokio::time::timeout_at(at, self.body.data()).await {
            Ok(Ok(chunk)) => Ok(chunk),
            Ok(Err(err)) => Err(error::transport(&err, &self.host)),
            Err(_) if is_total => Err(error::request_timeout(&self.host, self.total)),
            Err(_) => Err(error::idle_timeout(&self.host, self.idle)),
        }
    }

    /// Done with the body before its end: the connection is reused once the rest of the
    /// body's framing has arrived (dropping the reader instead closes the connection).
    pub fn release(self) {
        self.body.release();
    }
}

/// A wire-format decoder: bytes in, neutral events out.
pub(crate) trait Decode: Send + 'static {
    /// Decodes one chunk. Events decoded before an error are kept in `out`.
    fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), GatewayError>;
    /// The body ended. A decoder that has not seen its format's end marker fails here.
    fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), GatewayError>;
    /// Whether `Event::Done` has been produced (nothing more needs reading).
    fn is_done(&self) -> bool;
}

/// Drives a decoder over a body.
pub(crate) struct Pump<D> {
    body: Option<BodyReader>,
    decoder: D,
    pending: VecDeque<Result<Event, GatewayError>>,
    host: Arc<str>,
}

impl<D: Decode> Pump<D> {
    pub fn new(body: BodyReader, decoder: D) -> Self {
        let host = body.host.clone();
        Self {
            body: Some(body),
            decoder,
            pending: VecDeque::new(),
            host,
        }
    }

    /// Reads up to the first event; errors before it are returned here.
    pub async fn start(mut self) -> Result<EventStream, GatewayError> {
        match self.next().await {
            Some(Ok(event)) => self.pending.push_front(Ok(event)),
            Some(Err(err)) => return Err(err),
            None => return Err(error::truncated(&self.host)),
        }
        let stream = futures::stream::unfold(self, |mut pump| async move {
            let item = pump.next().await?;
            Some((item, pump))
        });
        Ok(Box::pin(stream))
    }

    async fn next(&mut self) -> Option<Result<Event, GatewayError>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                if item.is_err() {
                    // The first error ends the stream.
                    self.body = None;
                    self.pending.clear();
                }
                return Some(item);
            }
            let body = self.body.as_mut()?;
            let mut events = Vec::new();
            let result = match body.chunk().await {
                Ok(Some(chunk)) => self.decoder.push(&chunk, &mut events),
                Ok(None) => {
                    self.body = None;
                    self.decoder.finish(&mut events)
                }
                Err(err) => Err(err),
            };
            if self.decoder.is_done()
                && let Some(body) = self.body.take()
            {
                // Nothing after the end marker matters; the connection can serve the next call.
                body.release();
            }
            self.pending.extend(events.into_iter().map(Ok));
            if let Err(err) = result {
                self.pending.push_back(Err(err));
            }
        }
    }
}
