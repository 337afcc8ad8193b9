//! The answer as GitLab's encoders want it: the whole text, or the text as a stream of
//! chunks. The pipeline has already cleaned it (stop words, suffix overlap, fences,
//! CRLF), as the request's task asked.

use crate::pipeline::Started;
use crate::surfaces::stream::{Collected, collect};
use devassist_core::{Event, EventStream, GatewayError};
use futures::{Stream, StreamExt};

/// Collects a whole answer.
pub async fn whole(started: Started) -> Result<(String, Collected), GatewayError> {
    let collected = collect(started).await?;
    Ok((collected.text.clone(), collected))
}

struct TextState {
    inner: EventStream,
    done: bool,
    request_id: String,
}

/// The answer's text chunks. An error after the start ends the stream: GitLab's raw-text
/// and SSE streams have no way to report one.
pub fn text_stream(started: Started, request_id: String) -> impl Stream<Item = String> + Send {
    let state = TextState {
        inner: started.into_stream(),
        done: false,
        request_id,
    };
    futures::stream::unfold(state, |mut s| async move {
        while !s.done {
            match s.inner.next().await? {
                Ok(Event::Text(t)) if !t.is_empty() => return Some((t, s)),
                Ok(Event::Done { .. }) => s.done = true,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(request_id = %s.request_id, error = %e, "Stream failed after it started");
                    return None;
                }
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
        Started {
            first,
            rest,
            report: None,
        }
    }

    #[tokio::test]
    async fn an_error_mid_stream_ends_it() {
        let s = started(vec![
            Ok(Event::Text("one ".into())),
            Err(GatewayError::backend_error("gone")),
            Ok(Event::Text("two".into())),
        ]);
        let chunks: Vec<String> = text_stream(s, "rid".into()).collect().await;
        assert_eq!(chunks, ["one "]);
    }
}
