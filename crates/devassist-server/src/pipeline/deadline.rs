//! A per-feature time limit on a whole generation: past it the stream ends with a timeout
//! error in the stream's own framing, and the upstream request is dropped.

use devassist_core::{Event, EventStream, Feature, GatewayError};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::time::{Instant, Sleep};

pub fn exceeded(feature: Feature) -> GatewayError {
    GatewayError::backend_timeout(format!(
        "the {feature} request took longer than the gateway's limit for it"
    ))
}

pub fn limit(inner: EventStream, at: Instant, feature: Feature) -> EventStream {
    Limited {
        inner: Some(inner),
        sleep: Box::pin(tokio::time::sleep_until(at)),
        feature,
    }
    .boxed()
}

struct Limited {
    inner: Option<EventStream>,
    sleep: Pin<Box<Sleep>>,
    feature: Feature,
}

impl Stream for Limited {
    type Item = Result<Event, GatewayError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(item) = inner.poll_next_unpin(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.inner = None;
            return Poll::Ready(Some(Err(exceeded(self.feature))));
        }
        Poll::Pending
    }
}
