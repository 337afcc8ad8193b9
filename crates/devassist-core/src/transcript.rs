//! What expanded logging keeps of one request: the prompt as it went to the backend and the
//! answer as the client got it. Kept only for a request the operator's expanded logging
//! covers (the server's telemetry asks for it on the request's facts), filled in by the
//! pipeline, and written — with secrets redacted — when the request ends. Nothing here
//! writes, redacts or decides anything.

use crate::request::ToolCall;
use serde_json::Value;
use std::sync::{Mutex, PoisonError};

/// One request's prompt and answer, as they are so far.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// The caller's id (`dak_…`, `local`, `anonymous`).
    pub caller: Option<String>,
    /// The request as it went to the backend (the last try's), prompt stage applied.
    pub request: Option<Value>,
    pub text: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    /// The error that ended the answer, if one did.
    pub error: Option<String>,
}

/// The exchange, shared by the request's tasks. Taken a few times per request and once per
/// event of its answer: only for requests that expanded logging covers.
#[derive(Debug, Default)]
pub struct Transcript(Mutex<Exchange>);

impl Transcript {
    pub fn update(&self, f: impl FnOnce(&mut Exchange)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The exchange, leaving an empty one.
    pub fn take(&self) -> Exchange {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
