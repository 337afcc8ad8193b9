//! The load-timing layer: time a request waited for a cold backend to start is reported as
//! Ollama's `load_duration` in the answer's final event.

use devassist_core::{Event, EventStream};
use futures::StreamExt;
use std::time::Duration;

/// Waits shorter than this are not a load and leave the stream untouched.
const NOTICEABLE: Duration = Duration::from_millis(1);

pub fn report(stream: EventStream, waited: Duration) -> EventStream {
    if waited < NOTICEABLE {
        return stream;
    }
    stream
        .map(move |item| match item {
            Ok(Event::Done {
                finish,
                usage,
                mut timings,
                context,
            }) => {
                timings.load = Some(timings.load.unwrap_or_default().max(waited));
                Ok(Event::Done {
                    finish,
                    usage,
                    timings,
                    context,
                })
            }
            other => other,
        })
        .boxed()
}
