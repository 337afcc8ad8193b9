//! The mock upstream: the cheapest OpenAI-compatible server we can write, so that the
//! "direct" baseline measures little more than loopback and the load generator.
//!
//! `POST /v1/chat/completions` answers a small fixed `chat.completion` body, or, when the
//! request says `"stream": true`, `chunks` SSE chunks `interval` apart (the first at once)
//! followed by `data: [DONE]`. Every other path gets 404. It does no logging and keeps no
//! state; it must never be the bottleneck of a benchmark.

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// How the mock streams.
#[derive(Debug, Clone, Copy)]
pub struct MockSettings {
    /// Content chunks per streamed answer.
    pub chunks: u32,
    /// Time between two chunks.
    pub interval: Duration,
}

type Body = BoxBody<Bytes, Infallible>;

const WHOLE: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15}}"#;
const FIRST: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"tok \"},\"finish_reason\":null}]}\n\n";
const MIDDLE: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"},\"finish_reason\":null}]}\n\n";
const LAST: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":64,\"total_tokens\":73}}\n\ndata: [DONE]\n\n";

/// Only the field the mock needs; the rest of the body is skipped unparsed.
#[derive(Deserialize)]
struct Wanted {
    #[serde(default)]
    stream: bool,
}

/// Binds `addr`, prints `mock listening on http://ADDR` and serves until killed.
pub async fn run(addr: SocketAddr, settings: MockSettings) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("mock listening on http://{}", listener.local_addr()?);
    serve(listener, settings).await
}

/// Serves connections from `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, settings: MockSettings) -> std::io::Result<()> {
    loop {
        let (socket, _) = match listener.accept().await {
            Ok(pair) => pair,
            // Out of descriptors under overload: back off instead of spinning.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        tokio::spawn(connection(socket, settings));
    }
}

/// Serves one accepted connection until the client closes it.
pub async fn connection(socket: tokio::net::TcpStream, settings: MockSettings) {
    let _ = socket.set_nodelay(true);
    let service = service_fn(move |req| handle(req, settings));
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(socket), service)
        .await;
}

async fn handle(
    req: Request<Incoming>,
    settings: MockSettings,
) -> Result<Response<Body>, Infallible> {
    if req.method() != Method::POST || req.uri().path() != "/v1/chat/completions" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "application/json",
            Bytes::from_static(br#"{"error":{"message":"not found"}}"#),
        ));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                "application/json",
                Bytes::new(),
            ));
        }
    };
    let stream = serde_json::from_slice::<Wanted>(&body).is_ok_and(|w| w.stream);
    if !stream {
        return Ok(plain(
            StatusCode::OK,
            "application/json",
            Bytes::from_static(WHOLE.as_bytes()),
        ));
    }
    Ok(sse(settings))
}

fn plain(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Full::new(body).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

/// Chunk `k` is due `k × interval` after the request, on a fixed timetable so a slow
/// reader does not shift later chunks.
fn sse(settings: MockSettings) -> Response<Body> {
    let start = Instant::now();
    let total = settings.chunks.max(1);
    let frames = futures::stream::unfold(0u32, move |k| async move {
        if k >= total {
            return None;
        }
        if k > 0 {
            tokio::time::sleep_until(start + settings.interval * k).await;
        }
        let text = match k {
            0 if total == 1 => LAST,
            0 => FIRST,
            k if k + 1 == total => LAST,
            _ => MIDDLE,
        };
        Some((Frame::data(Bytes::from_static(text.as_bytes())), k + 1))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(
        frames.map(Ok::<_, Infallible>),
    )));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    resp
}
