//! The Anthropic Messages surface (`/v1/messages`, `/v1/messages/count_tokens`, and
//! `/v1/models` in Anthropic's shape for requests with `anthropic-version`): what Claude
//! Code and the `anthropic` SDKs speak. Translation only: requests go through the
//! pipeline like every other surface's.
//!
//! `x-api-key`, `anthropic-version` and `anthropic-beta` are accepted; the version and the
//! betas change nothing in the answer (docs/anthropic.md lists what is supported).

mod assemble;
mod convert;
mod count;
pub mod dialect;
mod encode;
#[cfg(test)]
mod http_tests;
mod messages;
pub mod models;
#[cfg(test)]
mod tests;
mod wire;

pub use dialect::AnthropicDialect;

use crate::state::AppState;
use axum::Router;
use axum::routing::post;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(count::count_tokens))
}
