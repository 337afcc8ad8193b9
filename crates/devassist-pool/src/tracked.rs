//! Wraps a backend stream so the lease lives exactly as long as the stream, and the slot
//! learns whether the stream completed, failed or was dropped early (a client disconnect).
//! An error mid-stream marks the replica as faulty for the balancer and, when the backend
//! crashed under the request, is rewritten to say so.

use super::Lease;
use devassist_core::{Event, EventStream, GatewayError};
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use std::pin::Pin;
use std::task::{Context, Poll};

struct Tracked {
    inner: EventStream,
    lease: Lease,
    finished: bool,
    /// The stream's last error, being matched against a crash of the backend.
    explaining: Option<BoxFuture<'static, GatewayError>>,
}

/// Attaches `lease` to `inner`.
pub fn tracked(inner: EventStream, lease: Lease) -> EventStream {
    Tracked {
        inner,
        lease,
        finished: false,
        explaining: None,
    }
    .boxed()
}

/// Counts a request that failed before its stream began, and says whether the backend
/// crashed under it.
pub fn failed(lease: &Lease, e: GatewayError) -> BoxFuture<'static, GatewayError> {
    count_failure(lease, &e);
    lease.explain(e)
}

fn count_failure(lease: &Lease, e: &GatewayError) {
    let stats = &lease.slot().stats;
    stats.failed();
    if e.retryable() {
        stats.fault();
    }
}

impl Tracked {
    fn fail(&mut self, e: GatewayError) {
        self.finished = true;
        count_failure(&self.lease, &e);
        self.explaining = Some(self.lease.explain(e));
    }
}

impl Stream for Tracked {
    type Item = Result<Event, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(explaining) = &mut self.explaining {
                let e = std::task::ready!(explaining.poll_unpin(cx));
                self.explaining = None;
                return Poll::Ready(Some(Err(e)));
            }
            if self.finished {
                return Poll::Ready(None);
            }
            match self.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(event))) => {
                    if matches!(event, Event::Done { .. }) {
                        self.finished = true;
                        self.lease.slot().stats.completed();
                    }
                    return Poll::Ready(Some(Ok(event)));
                }
                Poll::Ready(Some(Err(e))) => self.fail(e),
                // Ended without Done: the upstream closed early.
                Poll::Ready(None) => self.fail(GatewayError::backend_error(
                    "the backend closed the stream before it finished",
                )),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.finished {
            self.lease.slot().stats.cancelled();
        }
    }
}
