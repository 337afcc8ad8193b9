//! The pooled client of one `https://` upstream: hyper-util's legacy `Client`, with the
//! settings that matter for a gateway. (`http://` upstreams use `pool`; its idle timeout and
//! limits are the ones here.)
//!
//! No request is sent twice once the upstream may have read it. hyper-util sends a request
//! again (`retry_canceled_requests`) only when hyper hands it back unstarted: a pooled
//! connection found closed before a byte of the request was written to it. A request that
//! was written, in part or whole, is never handed back; its failure reaches the caller with
//! `Reached::Written` (`a_request_written_to_a_connection_that_closes_is_sent_once`).
//!
//! Memory: a gateway holds one upstream connection per open stream, so per-connection
//! buffers are what a thousand held streams cost. HTTP/1.1 reads into a buffer that starts
//! at 8 KiB and may grow to `MAX_BUF` for a large head or a fast body; request bodies are
//! queued and written vectored, never copied into the write buffer. HTTP/2 windows are
//! bounded so that a stream the client reads slowly buffers at most `H2_STREAM_WINDOW`.

use super::connect::Connector;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::time::Duration;

pub(super) type Client = hyper_util::client::legacy::Client<Connector, Full<Bytes>>;

/// An idle connection unused this long is closed, on a timer: servers close theirs after a
/// while (uvicorn after 5 s, Go's net/http after its idle timeout), and one that closed is
/// dropped from the pool as soon as its close arrives.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most idle connections kept per upstream.
pub(super) const MAX_IDLE: usize = 256;
/// Largest HTTP/1.1 read buffer, which bounds a response head too.
pub(super) const MAX_BUF: usize = 64 * 1024;
/// HTTP/2 flow-control windows: what the upstream may send ahead of our reads.
const H2_STREAM_WINDOW: u32 = 256 * 1024;
const H2_CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;
/// HTTP/2 pings on a quiet connection: an upstream that vanished is noticed.
const H2_KEEPALIVE: Duration = Duration::from_secs(30);

pub(super) fn build(connector: Connector) -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE)
        // See the module's comment: only requests hyper never started are sent again.
        .retry_canceled_requests(true)
        .http1_max_buf_size(MAX_BUF)
        .http1_writev(true)
        .http2_initial_stream_window_size(H2_STREAM_WINDOW)
        .http2_initial_connection_window_size(H2_CONNECTION_WINDOW)
        .http2_keep_alive_interval(H2_KEEPALIVE)
        .http2_keep_alive_timeout(Duration::from_secs(20))
        .build(connector)
}
