//! A deadline for a request body: the whole body must arrive within the server's
//! `body_timeout` of its head having been read, else reading it fails. A client that sends
//! its headers and then nothing (or a byte now and then) is answered and disconnected
//! instead of holding a connection, and a descriptor, forever.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Reading the body took longer than the deadline.
#[derive(Debug)]
pub struct BodyTimedOut(pub Duration);

impl fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the request body did not arrive within {}",
            humantime::format_duration(self.0)
        )
    }
}

impl std::error::Error for BodyTimedOut {}

/// `B`, failing with [`BodyTimedOut`] once `timeout` has passed since it was wrapped.
pub struct DeadlineBody<B> {
    body: B,
    timeout: Duration,
    /// `None` for a body that was empty from the start or has ended: no timer to keep.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<B: Body> DeadlineBody<B> {
    pub fn new(body: B, timeout: Duration) -> Self {
        let deadline = (!body.is_end_stream()).then(|| Box::pin(tokio::time::sleep(timeout)));
        Self {
            body,
            timeout,
            deadline,
        }
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => {
                if frame.is_none() || this.body.is_end_stream() {
                    this.deadline = None;
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if !expired {
                    return Poll::Pending;
                }
                this.deadline = None;
                Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.timeout)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    /// A body that yields one chunk and then never another.
    fn stalled() -> impl Body<Data = Bytes, Error = std::convert::Infallible> + Unpin {
        let first = futures::stream::iter([Ok(Frame::data(Bytes::from_static(b"{\"a\":")))]);
        StreamBody::new(futures::StreamExt::chain(first, futures::stream::pending()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_at_the_deadline() {
        let begun = tokio::time::Instant::now();
        let err = DeadlineBody::new(stalled(), Duration::from_secs(30))
            .collect()
            .await
            .err()
            .unwrap();
        assert_eq!(begun.elapsed(), Duration::from_secs(30));
        assert!(err.is::<BodyTimedOut>(), "{err}");
        assert_eq!(
            err.to_string(),
            "the request body did not arrive within 30s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_complete_body_is_passed_through_untouched() {
        let body = DeadlineBody::new(
            Full::new(Bytes::from_static(b"hello")),
            Duration::from_secs(1),
        );
        assert_eq!(body.size_hint().exact(), Some(5));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
        // An empty body holds no timer at all.
        let empty = DeadlineBody::new(Full::new(Bytes::new()), Duration::from_secs(1));
        assert!(empty.deadline.is_none() && empty.is_end_stream());
    }
}
