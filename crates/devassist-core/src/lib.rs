//! devassist-core: the neutral vocabulary every other crate speaks.
//!
//! Surfaces decode wire JSON into these types, backends turn them into upstream calls, and
//! the events that come back are encoded again by the surface. Nothing here does I/O.

pub mod backend;
pub mod caller;
pub mod error;
pub mod event;
pub mod facts;
pub mod feature;
pub mod postprocess;
pub mod prompt;
pub mod request;
pub mod transcript;

pub use backend::{Backend, CallContext, EventStream, ManageOp, RawResponse, UpstreamKey};
pub use caller::{Caller, CallerKind, CallerLimits, TokenBudget};
pub use error::{ErrorKind, GatewayError, Origin, Reached};
pub use event::{Event, FinishReason, Timings, Usage};
pub use facts::{Facts, Principal, RequestFacts};
pub use feature::Feature;
pub use request::{
    EmbedRequest, EmbedResponse, GenerateRequest, KeepAlive, Message, Prompt, ResponseFormat, Role,
    Sampling, Task, ToolCall, ToolChoice,
};
pub use transcript::{Exchange, Transcript};
