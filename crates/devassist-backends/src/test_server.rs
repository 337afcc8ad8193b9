//! A scripted HTTP/1.1 upstream on a real local socket, for the backend tests.
//!
//! Raw tokio rather than a framework so that tests control every byte: recorded upstream
//! streams written in timed parts, chunked bodies cut off mid-stream, close-delimited
//! bodies, garbage, wrong content types, servers that accept and never answer. It records
//! each request and counts connections the client closed while we were still writing.

use devassist_core::{Event, EventStream, GatewayError};
use futures::StreamExt;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How the response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`, one chunk per part, then the terminating chunk.
    Chunked,
    /// Chunked, but the connection closes without the terminating chunk (a dead upstream).
    ChunkedCut,
    /// No length: the body ends when the server closes the connection.
    UntilClose,
}

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Respond {
        status: u16,
        content_type: Option<String>,
        /// Each part is written after its delay.
        parts: Vec<(Duration, Vec<u8>)>,
        framing: Framing,
    },
    /// Reads the request and never answers.
    Hang,
}

impl Reply {
    /// A complete chunked response, all parts at once.
    pub fn ok(content_type: &str, parts: &[&str]) -> Reply {
        Reply::status(200, content_type, parts)
    }

    pub fn status(status: u16, content_type: &str, parts: &[&str]) -> Reply {
        Reply::Respond {
            status,
            content_type: Some(content_type.to_owned()),
            parts: parts
                .iter()
                .map(|p| (Duration::ZERO, p.as_bytes().to_vec()))
                .collect(),
            framing: Framing::Chunked,
        }
    }

    pub fn sse(events: &[&str]) -> Reply {
        Reply::ok("text/event-stream", events)
    }

    pub fn ndjson(lines: &[&str]) -> Reply {
        Reply::ok("application/x-ndjson", lines)
    }

    pub fn framing(mut self, new: Framing) -> Reply {
        if let Reply::Respond { framing, .. } = &mut self {
            *framing = new;
        }
        self
    }

    /// Delays every part after the first by `delay`.
    pub fn paced(mut self, delay: Duration) -> Reply {
        if let Reply::Respond { parts, .. } = &mut self {
            for part in parts.iter_mut().skip(1) {
                part.0 = delay;
            }
        }
        self
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

struct State {
    replies: Mutex<VecDeque<Reply>>,
    last: Mutex<Option<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    /// Connections the client closed before we finished writing.
    disconnects: AtomicUsize,
    changed: Notify,
}

pub struct TestServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Serves `replies` in order, one per connection; the last one repeats.
    pub async fn start(replies: Vec<Reply>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            replies: Mutex::new(replies.into()),
            last: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            disconnects: AtomicUsize::new(0),
            changed: Notify::new(),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(handle(socket, shared.clone()));
            }
        });
        TestServer { addr, state, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request");
        requests.into_iter().next().unwrap()
    }

    pub fn disconnects(&self) -> usize {
        self.state.disconnects.load(Ordering::SeqCst)
    }

    /// Waits (up to `limit`) until the client has closed `n` connections early.
    pub async fn wait_disconnects(&self, n: usize, limit: Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.state.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if self.disconnects() >= n {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

/// A port nothing listens on (bound, then released).
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

async fn handle(mut socket: TcpStream, state: Arc<State>) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    state.requests.lock().unwrap().push(request);
    let reply = {
        let mut replies = state.replies.lock().unwrap();
        let mut last = state.last.lock().unwrap();
        match replies.pop_front() {
            Some(reply) => {
                *last = Some(reply.clone());
                reply
            }
            None => last.clone().expect("the server has replies"),
        }
    };
    let closed_early = match reply {
        Reply::Hang => wait_for_close(&mut socket, None).await,
        Reply::Respond {
            status,
            content_type,
            parts,
            framing,
        } => respond(&mut socket, status, content_type, parts, framing).await,
    };
    if closed_early {
        state.disconnects.fetch_add(1, Ordering::SeqCst);
        state.changed.notify_waiters();
    }
}

/// Writes the response; true if the client went away before it was complete.
async fn respond(
    socket: &mut TcpStream,
    status: u16,
    content_type: Option<String>,
    parts: Vec<(Duration, Vec<u8>)>,
    framing: Framing,
) -> bool {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nConnection: close\r\n",
        reason(status)
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if framing != Framing::UntilClose {
        head.push_str("Transfer-Encoding: chunked\r\n");
    }
    head.push_str("\r\n");
    if socket.write_all(head.as_bytes()).await.is_err() {
        return true;
    }
    for (delay, bytes) in parts {
        if !delay.is_zero() && wait_for_close(socket, Some(delay)).await {
            return true;
        }
        let framed = match framing {
            Framing::UntilClose => bytes,
            Framing::Chunked | Framing::ChunkedCut if bytes.is_empty() => continue,
            Framing::Chunked | Framing::ChunkedCut => {
                let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
                framed.extend_from_slice(&bytes);
                framed.extend_from_slice(b"\r\n");
                framed
            }
        };
        if socket.write_all(&framed).await.is_err() || socket.flush().await.is_err() {
            return true;
        }
    }
    if framing == Framing::Chunked && socket.write_all(b"0\r\n\r\n").await.is_err() {
        return true;
    }
    let _ = socket.shutdown().await;
    false
}

/// Waits for the client to close the connection, or for `limit`; true if it closed.
async fn wait_for_close(socket: &mut TcpStream, limit: Option<Duration>) -> bool {
    let mut buf = [0u8; 1024];
    let closed = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    match limit {
        Some(limit) => tokio::time::timeout(limit, closed).await.is_ok(),
        None => {
            closed.await;
            true
        }
    }
}

async fn read_request(socket: &mut TcpStream) -> Option<Recorded> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(Recorded {
        method,
        path,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Every event of a stream, and the error that ended it if one did.
pub async fn drain(stream: EventStream) -> (Vec<Event>, Option<GatewayError>) {
    let items: Vec<_> = stream.collect().await;
    let mut events = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Ok(event) => events.push(event.clone()),
            Err(err) => {
                assert_eq!(i, items.len() - 1, "an error must be the last item");
                return (events, Some(err.clone()));
            }
        }
    }
    (events, None)
}
