//! Model management pass-through (`/api/pull`, `push`, `create`, `copy`, `delete`): the
//! client's body goes upstream untouched and the upstream's answer comes back as bytes,
//! status included, so progress NDJSON and Ollama's own errors reach the client as is.
//!
//! Only the wait for the response head is bounded by the request timeout (a pull without
//! progress answers when it is done, so the head timeout does not apply): a pull of a
//! large model legitimately streams progress for longer, so the body is bounded by the idle
//! timeout alone.

use crate::http::pump::BodyReader;
use crate::http::{Answer, Body, Upstream};
use bytes::Bytes;
use devassist_core::{CallContext, GatewayError, ManageOp, RawResponse};
use http::Method;
use std::collections::BTreeMap;

/// Headers that describe the upstream connection, not the content.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "content-length",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "te",
];

pub(crate) async fn pass_through(
    upstream: &Upstream,
    op: ManageOp,
    body: Bytes,
    ctx: &CallContext,
) -> Result<RawResponse, GatewayError> {
    let method = match op {
        ManageOp::Delete => Method::DELETE,
        ManageOp::Pull | ManageOp::Push | ManageOp::Create | ManageOp::Copy => Method::POST,
    };
    let call = upstream
        .send(method, op.path(), Body::Raw(body), Answer::Whole, ctx)
        .await?;
    let status = call.response.status.as_u16();
    let headers: BTreeMap<String, String> = call
        .response
        .headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let reader = BodyReader::new(call.response, upstream, None);
    let body = futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        match reader.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(reader))),
            Ok(None) => None,
            Err(err) => Some((Err(err), None)),
        }
    });
    Ok(RawResponse {
        status,
        headers,
        body: Box::pin(body),
    })
}
