//! The first-event layer: a generation counts as started once its first event arrives, so
//! that every error before the first byte comes back as `Err` and the surface still picks
//! the status code; later errors travel inside the stream.

use devassist_core::{Event, EventStream, GatewayError};
use futures::StreamExt;

/// A generation whose first event has arrived.
pub struct Started {
    pub first: Event,
    pub rest: EventStream,
    /// What the prompt stage did to a fill-in-the-middle input, for surfaces that report it.
    pub report: Option<super::prompt::PromptReport>,
}

impl Started {
    /// The whole stream again, first event included.
    pub fn into_stream(self) -> EventStream {
        futures::stream::once(async move { Ok(self.first) })
            .chain(self.rest)
            .boxed()
    }
}

/// Waits for `stream`'s first event.
pub async fn peek(mut stream: EventStream) -> Result<Started, GatewayError> {
    match stream.next().await {
        Some(Ok(first)) => Ok(Started {
            first,
            rest: stream,
            report: None,
        }),
        Some(Err(e)) => Err(e),
        None => Err(GatewayError::backend_error("the backend sent no response")),
    }
}
