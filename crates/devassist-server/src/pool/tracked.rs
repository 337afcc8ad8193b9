//! Wraps a backend stream so the lease lives exactly as long as the stream, and the slot
//! learns whether the stream completed, failed or was dropped early (a client disconnect).

use super::Lease;
use devassist_core::{Event, EventStream, GatewayError};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::task::{Context, Poll};

struct Tracked {
    inner: EventStream,
    lease: Lease,
    finished: bool,
}

/// Attaches `lease` to `inner`.
pub fn tracked(inner: EventStream, lease: Lease) -> EventStream {
    Tracked {
        inner,
        lease,
        finished: false,
    }
    .boxed()
}

impl Stream for Tracked {
    type Item = Result<Event, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let item = self.inner.poll_next_unpin(cx);
        match &item {
            Poll::Ready(Some(Ok(Event::Done { .. }))) => {
                self.finished = true;
                self.lease.slot().stats.completed();
            }
            Poll::Ready(Some(Err(_))) => {
                self.finished = true;
                self.lease.slot().stats.failed();
            }
            Poll::Ready(None) => {
                // Ended without Done: the upstream closed early.
                self.finished = true;
                self.lease.slot().stats.failed();
                return Poll::Ready(Some(Err(GatewayError::backend_error(
                    "the backend closed the stream before it finished",
                ))));
            }
            _ => {}
        }
        item
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.finished {
            self.lease.slot().stats.cancelled();
        }
    }
}
