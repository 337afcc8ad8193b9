//! The body pump: reads upstream chunks under the idle and total deadlines, feeds them to a
//! wire-format decoder and hands out neutral events.
//!
//! `start` reads ahead to the first event so that anything that goes wrong before it
//! (garbage, an error line, a dead upstream) is returned as an error before the gateway
//! has written a byte; later failures become the stream's last item. Dropping the stream
//! drops the response, which closes the upstream connection (HTTP/1.1) or resets the stream
//! (HTTP/2) and cancels the generation.
//!
//! Every error it hands out says the upstream answered (`Reached::Answered`), and carries
//! none of the backend's own secrets.

use super::{Response, Upstream, error, redact};
use bytes::Bytes;
use devassist_core::{Event, EventStream, GatewayError, Reached};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// How long the rest of a body (the terminating chunk a server writes after `[DONE]`) is
/// waited for once the decoder has what it needs, so that the connection can serve the next
/// call. Usually it is already there; a body that does not end in time is dropped, which
/// closes its connection.
const FINISH_GRACE: Duration = Duration::from_millis(50);
/// Most body bytes skipped to finish a body the decoder is done with.
const MAX_SKIP: usize = 64 * 1024;

/// Reads a response body chunk by chunk, under the idle timeout and the call's deadline.
///
/// Holds the body alone: the response head is not needed past the status check. One timer
/// for the whole body, moved on at each chunk: a later deadline only updates the timer's
/// entry, where a timeout per chunk registered and removed one in the runtime's timer wheel
/// for every chunk of every stream.
pub(crate) struct BodyReader {
    body: super::ResponseBody,
    idle: Duration,
    deadline: Option<Instant>,
    total: Duration,
    timer: Pin<Box<Sleep>>,
    host: Arc<str>,
    secrets: Arc<redact::Secrets>,
}

impl BodyReader {
    /// `deadline: None` for bodies that may legitimately run long (model pulls).
    pub fn new(response: Response, upstream: &Upstream, deadline: Option<Instant>) -> Self {
        Self {
            body: response.body,
            idle: upstream.idle_timeout,
            deadline,
            total: upstream.request_timeout,
            timer: Box::pin(tokio::time::sleep(upstream.idle_timeout)),
            host: upstream.host.clone(),
            secrets: upstream.secrets.clone(),
        }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, GatewayError> {
        let idle_at = Instant::now() + self.idle;
        let (at, is_total) = match self.deadline {
            Some(deadline) if deadline <= idle_at => (deadline, true),
            _ => (idle_at, false),
        };
        self.timer.as_mut().reset(at);
        loop {
            let (body, timer) = (&mut self.body, &mut self.timer);
            let next = std::future::poll_fn(|cx| match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(frame) => Poll::Ready(Some(frame)),
                Poll::Pending => timer.as_mut().poll(cx).map(|()| None),
            });
            match next.await {
                Some(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Ok(Some(data)),
                    // Empty data, or trailers: nothing for the decoder.
                    _ => {}
                },
                Some(Some(Err(err))) => return Err(error::body(&err, &self.host)),
                Some(None) => return Ok(None),
                None if is_total => {
                    return Err(error::request_timeout(
                        &self.host,
                        self.total,
                        Reached::Answered,
                    ));
                }
                None => return Err(error::idle_timeout(&self.host, self.idle)),
            }
        }
    }

    /// Done with the body before its end: reads what is left of it (usually the terminating
    /// chunk after the format's own end marker) within `FINISH_GRACE`, so that the
    /// connection goes back to the pool instead of being closed.
    pub async fn finish(mut self) {
        let rest = async {
            let mut skipped = 0;
            while let Some(Ok(frame)) = self.body.frame().await {
                skipped += frame.data_ref().map_or(0, Bytes::len);
                if skipped > MAX_SKIP {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(FINISH_GRACE, rest).await;
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
    secrets: Arc<redact::Secrets>,
}

impl<D: Decode> Pump<D> {
    pub fn new(body: BodyReader, decoder: D) -> Self {
        let host = body.host.clone();
        let secrets = body.secrets.clone();
        Self {
            body: Some(body),
            decoder,
            pending: VecDeque::new(),
            host,
            secrets,
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

    /// A failure after the response head: the upstream answered, and what it said about the
    /// failure carries none of the backend's secrets.
    fn answered(&self, err: GatewayError) -> GatewayError {
        let err = self.secrets.scrub_error(err);
        if err.reached == Reached::Unknown {
            return err.with_reached(Reached::Answered);
        }
        err
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
                body.finish().await;
            }
            self.pending.extend(events.into_iter().map(Ok));
            if let Err(err) = result {
                self.pending.push_back(Err(self.answered(err)));
            }
        }
    }
}
