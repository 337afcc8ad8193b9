//! The upstream HTTP/1.1 client: requests out, response heads and bodies in, connections
//! kept alive in a small pool.
//!
//! Why not reqwest (hyper's client): a gateway holds one upstream connection per open
//! stream, and hyper's client keeps, per connection, an 8 KiB read buffer, an 8 KiB write
//! buffer and a dispatch channel whose 32-request blocks (8.8 KiB each) become two after a
//! connection's 32nd request. Measured with 1,000 open streams that was ~34 KiB per stream,
//! 60 % of the gateway's memory. Here a connection in use holds its socket and one 4 KiB
//! read buffer; the request is written from a buffer freed once sent; an idle pooled
//! connection holds its socket alone. Parsing is `httparse`'s; TLS is rustls's.
//!
//! What it speaks: HTTP/1.1 over TCP or TLS (`https`), bodies framed by `Content-Length`,
//! `chunked` or the end of the connection, interim 1xx responses skipped. What it does not
//! do, because upstream model servers do not need it: HTTP/2, proxies, redirects,
//! compression, cookies.

mod conn;
pub(crate) mod framing;

use bytes::{Bytes, BytesMut};
use conn::{Conn, Head, Target, Tls};
use framing::{Chunk, Framing, Step};
use http::{HeaderMap, HeaderName, Method, StatusCode, header};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;
use tokio_rustls::rustls::pki_types::ServerName;

/// An idle connection unused this long is closed rather than reused: servers close theirs
/// after a while (uvicorn after 5 s, Go's net/http after its idle timeout) and a request on
/// a connection the server is closing fails.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most idle connections kept per upstream; the oldest go first.
const MAX_IDLE: usize = 4096;
/// Most body bytes skipped to finish a released body before its connection is reused.
const MAX_SKIP: usize = 64 * 1024;
/// How long a released connection may wait for the rest of its body (the terminating chunk
/// a server writes after `[DONE]`) before it is closed instead of reused.
const FINISH_GRACE: Duration = Duration::from_secs(1);
/// A pooled connection that closes this soon after the request was written was being closed
/// by the server as the request arrived (its idle timeout): sending again is safe. Closed
/// later, the server may have acted on the request, so the failure is the caller's.
const RETRY_WINDOW: Duration = Duration::from_millis(250);
/// Headers the client writes itself; configuring them would corrupt the framing.
pub(crate) const RESERVED_HEADERS: [&str; 6] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "upgrade",
];

/// A transport failure. `Malformed` is a server speaking something other than HTTP/1.x.
#[derive(Debug)]
pub(crate) enum Error {
    /// Resolving the host, connecting or the TLS handshake failed.
    Connect(io::Error),
    /// Connecting took longer than the connect timeout.
    ConnectTimeout,
    /// Writing the request failed.
    Send(io::Error),
    /// The server closed the connection without a byte of a response.
    Closed(Option<io::Error>),
    /// Reading the response failed.
    Read(io::Error),
    /// The connection closed before the body's end.
    Incomplete,
    Malformed(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Connect(err) => write!(f, "connect: {err}"),
            Error::ConnectTimeout => f.write_str("connect: timed out"),
            Error::Send(err) => write!(f, "sending the request: {err}"),
            Error::Closed(None) => f.write_str("the connection closed before a response"),
            Error::Closed(Some(err)) => {
                write!(f, "the connection closed before a response: {err}")
            }
            Error::Read(err) => write!(f, "reading the response: {err}"),
            Error::Incomplete => f.write_str("the connection closed before the body ended"),
            Error::Malformed(what) => write!(f, "malformed response: {what}"),
        }
    }
}

/// One upstream server's client. Cloning shares the pool.
#[derive(Clone)]
pub(crate) struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    target: Target,
    connect_timeout: Duration,
    /// `host`, `accept` and the configured headers, each rendered once as its header line.
    /// A header of the same name in a request replaces the fixed one.
    fixed_headers: Vec<(HeaderName, Vec<u8>)>,
    idle: Mutex<VecDeque<Idle>>,
}

struct Idle {
    conn: Conn,
    /// What is left of the last body: `Done`, or the framing still to read (the terminating
    /// chunk after an SSE stream's `[DONE]`), finished when the connection is taken.
    rest: Framing,
    since: Instant,
}

/// What `send` writes.
pub(crate) struct Request<'a> {
    pub method: &'a Method,
    /// Path and query, percent-encoded.
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
}

impl Client {
    /// A client for `url`'s scheme, host and port; `headers` go on every request.
    pub fn new(
        url: &url::Url,
        headers: &HeaderMap,
        connect_timeout: Duration,
    ) -> Result<Client, String> {
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err("the url has no host".into()),
        };
        let port = url
            .port_or_known_default()
            .ok_or("the url has no port and its scheme no default one")?;
        let tls = match url.scheme() {
            "http" => None,
            "https" => Some(Tls {
                config: conn::tls_config()?,
                name: ServerName::try_from(host.clone())
                    .map_err(|_| format!("{host:?} is not a valid TLS server name"))?,
            }),
            other => return Err(format!("unsupported scheme {other:?}")),
        };
        let target = Target { host, port, tls };
        Ok(Self::with_target(target, url, headers, connect_timeout))
    }

    fn with_target(
        target: Target,
        url: &url::Url,
        headers: &HeaderMap,
        connect_timeout: Duration,
    ) -> Client {
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let line = |name: &HeaderName, value: &[u8]| {
            let mut line = Vec::new();
            push_header(&mut line, name.as_str(), value);
            (name.clone(), line)
        };
        // The configured headers replace the defaults (a `Host` for a virtual host).
        let mut fixed = Vec::new();
        if !headers.contains_key(header::HOST) {
            fixed.push(line(&header::HOST, authority.as_bytes()));
        }
        if !headers.contains_key(header::ACCEPT) {
            fixed.push(line(&header::ACCEPT, b"*/*"));
        }
        fixed.extend(
            headers
                .iter()
                .map(|(name, value)| line(name, value.as_bytes())),
        );
        Client {
            shared: Arc::new(Shared {
                target,
                connect_timeout,
                fixed_headers: fixed,
                idle: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// Sends `request` and reads the response head, on an idle pooled connection if there
    /// is one. A pooled connection the server closes as the request arrives (its idle
    /// timeout ran out at that moment) costs a second try on a new connection: when writing
    /// fails, or the close comes within `RETRY_WINDOW` without a byte of a response.
    pub async fn send(&self, request: &Request<'_>) -> Result<Response, Error> {
        let head = self.render_head(request);
        if let Some(conn) = self.shared.checkout() {
            match self.send_on(conn, true, &head, request).await {
                Ok(response) => return Ok(response),
                Err(SendError::Failed(err)) => return Err(err),
                Err(SendError::Retry(err)) => {
                    tracing::debug!(error = %err, "Pooled upstream connection was closed; reconnecting");
                }
            }
        }
        let conn = Conn::open(&self.shared.target, self.shared.connect_timeout).await?;
        match self.send_on(conn, false, &head, request).await {
            Ok(response) => Ok(response),
            Err(SendError::Failed(err) | SendError::Retry(err)) => Err(err),
        }
    }

    async fn send_on(
        &self,
        mut conn: Conn,
        reused: bool,
        head: &[u8],
        request: &Request<'_>,
    ) -> Result<Response, SendError> {
        let stale = |err: Error| {
            if reused {
                SendError::Retry(err)
            } else {
                SendError::Failed(err)
            }
        };
        if let Err(err) = conn.write(head, request.body).await {
            return Err(stale(Error::Send(err)));
        }
        let written = Instant::now();
        let head = match conn.read_head().await {
            Ok(head) => head,
            Err(err @ Error::Closed(_)) if written.elapsed() < RETRY_WINDOW => {
                return Err(stale(err));
            }
            Err(err) => return Err(SendError::Failed(err)),
        };
        let (framing, keep_alive) = framing_of(&head, request.method).map_err(SendError::Failed)?;
        Ok(Response {
            status: head.status,
            headers: head.headers,
            body: Body {
                conn: Some(conn),
                framing,
                keep_alive,
                shared: self.shared.clone(),
            },
        })
    }

    /// The request line and headers; the body is written after them as it is.
    fn render_head(&self, request: &Request<'_>) -> Vec<u8> {
        let fixed = &self.shared.fixed_headers;
        let fixed_len: usize = fixed.iter().map(|(_, line)| line.len()).sum();
        let mut out = Vec::with_capacity(fixed_len + request.target.len() + 160);
        out.extend_from_slice(request.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(request.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, line) in fixed {
            if !request.headers.contains_key(name) {
                out.extend_from_slice(line);
            }
        }
        for (name, value) in request.headers {
            push_header(&mut out, name.as_str(), value.as_bytes());
        }
        if !request.body.is_empty() || !matches!(*request.method, Method::GET | Method::HEAD) {
            let len = request.body.len().to_string();
            push_header(&mut out, "content-length", len.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    #[cfg(test)]
    pub fn idle_connections(&self) -> usize {
        self.shared.lock().len()
    }
}

/// Why `send_on` failed.
#[derive(Debug)]
enum SendError {
    /// A pooled connection the server had closed: send again on a new one.
    Retry(Error),
    Failed(Error),
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        // The queue holds no invariant a panic elsewhere could break.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection that is ready; closed ones are dropped, and
    /// ones whose last body has not quite ended yet go back to wait.
    fn checkout(&self) -> Option<Conn> {
        let mut waiting = Vec::new();
        let found = loop {
            let Some(idle) = self.lock().pop_back() else {
                break None;
            };
            if idle.since.elapsed() >= IDLE_TIMEOUT {
                // The newest is too old, so are all the others.
                let expired = std::mem::take(&mut *self.lock());
                drop(expired);
                break None;
            }
            match idle.ready() {
                Ready::Yes(conn) => break Some(conn),
                Ready::NotYet(idle) => waiting.push(idle),
                Ready::No => {}
            }
        };
        if !waiting.is_empty() {
            let mut idle = self.lock();
            // Oldest first, so that the queue stays ordered by age at the back.
            idle.extend(waiting.into_iter().rev());
        }
        found
    }

    fn put(&self, mut conn: Conn, rest: Framing) {
        if rest == Framing::Done {
            if !conn.buf.is_empty() {
                // Bytes nobody asked for: this connection's next response cannot be trusted.
                return;
            }
            // An idle connection keeps no buffer; the next response allocates its own.
            conn.buf = BytesMut::new();
        }
        let now = Instant::now();
        let mut closed = Vec::new();
        {
            let mut idle = self.lock();
            while idle
                .front()
                .is_some_and(|old| now.duration_since(old.since) >= IDLE_TIMEOUT)
                || idle.len() >= MAX_IDLE
            {
                closed.extend(idle.pop_front());
            }
            idle.push_back(Idle {
                conn,
                rest,
                since: now,
            });
        }
        // Sockets are closed outside the lock.
        drop(closed);
    }
}

enum Ready {
    Yes(Conn),
    /// The last body's end has not arrived yet; it may within `FINISH_GRACE`.
    NotYet(Idle),
    No,
}

impl Idle {
    /// Finishes the last body from what has already arrived, then checks the connection.
    fn ready(mut self) -> Ready {
        let mut skipped = 0;
        loop {
            match self.rest.decode(&mut self.conn.buf) {
                Ok(Step::End) => break,
                Ok(Step::Data(data)) => {
                    skipped += data.len();
                    if skipped > MAX_SKIP {
                        return Ready::No;
                    }
                }
                Ok(Step::NeedMore) => match self.conn.fill_now() {
                    Some(Ok(n)) if n > 0 => {}
                    None if self.since.elapsed() < FINISH_GRACE => return Ready::NotYet(self),
                    _ => return Ready::No,
                },
                Err(_) => return Ready::No,
            }
        }
        if !self.conn.is_idle_and_open() {
            return Ready::No;
        }
        self.conn.buf = BytesMut::new();
        Ready::Yes(self.conn)
    }
}

/// A response body, read piece by piece. Dropped before its end, it closes the connection
/// (which tells the upstream to stop generating); read to its end, the connection goes back
/// to the pool.
pub(crate) struct Body {
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    shared: Arc<Shared>,
}

impl Body {
    /// The next piece of the body; `None` at its end.
    pub async fn data(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            match self.framing.decode(&mut conn.buf) {
                Ok(Step::Data(data)) => return Ok(Some(data)),
                Ok(Step::End) => {
                    self.finish();
                    return Ok(None);
                }
                Ok(Step::NeedMore) => {}
                Err(err) => {
                    self.conn = None;
                    return Err(Error::Malformed(err.0.into()));
                }
            }
            match conn.fill().await {
                Ok(0) => {
                    self.conn = None;
                    return match self.framing.closed() {
                        Ok(()) => Ok(None),
                        Err(_) => Err(Error::Incomplete),
                    };
                }
                Ok(_) => {}
                Err(err) => {
                    self.conn = None;
                    return Err(Error::Read(err));
                }
            }
        }
    }

    /// The reader has what it needs (its format's own end marker came): the connection
    /// goes back to the pool, to be reused once the rest of the framing (usually the
    /// terminating chunk, often still in flight) has arrived.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take()
            && self.keep_alive
        {
            self.shared.put(conn, self.framing);
        }
    }

    fn finish(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.keep_alive
            && conn.buf.is_empty()
        {
            self.shared.put(conn, Framing::Done);
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        // A body whose end has already arrived leaves a reusable connection.
        if let Some(conn) = self.conn.as_mut() {
            while let Ok(Step::Data(_)) = self.framing.decode(&mut conn.buf) {}
            if self.framing == Framing::Done {
                self.finish();
            }
        }
    }
}

/// How the body is framed and whether the connection can be reused after it
/// (RFC 9112 §6.3, §9.3).
fn framing_of(head: &Head, method: &Method) -> Result<(Framing, bool), Error> {
    // Comma-separated list tokens, borrowed from the head (nothing allocated for a header
    // that is absent, the usual case).
    let tokens = |name| -> Result<Vec<&str>, Error> {
        let mut tokens = Vec::new();
        for value in head.headers.get_all(&name) {
            let value = value
                .to_str()
                .map_err(|_| Error::Malformed(format!("an unreadable {name} header")))?;
            tokens.extend(value.split(',').map(str::trim).filter(|t| !t.is_empty()));
        }
        Ok(tokens)
    };
    let has = |tokens: &[&str], token: &str| tokens.iter().any(|t| t.eq_ignore_ascii_case(token));
    let connection = tokens(header::CONNECTION)?;
    let mut keep_alive = if head.minor_version >= 1 {
        !has(&connection, "close")
    } else {
        has(&connection, "keep-alive")
    };
    let status = head.status;
    if *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Framing::Done, keep_alive));
    }
    let codings = tokens(header::TRANSFER_ENCODING)?;
    if let Some(last) = codings.last() {
        if last.eq_ignore_ascii_case("chunked") {
            // With both, the length is a lie someone may rely on; HTTP/1.0 has no chunked
            // coding (RFC 9112 §6.1): read this body, then close.
            keep_alive &= !head.headers.contains_key(header::CONTENT_LENGTH);
            keep_alive &= head.minor_version >= 1;
            return Ok((Framing::Chunked(Chunk::Size), keep_alive));
        }
        return Ok((Framing::UntilClose, false));
    }
    let lengths = tokens(header::CONTENT_LENGTH)?;
    if let Some(first) = lengths.first() {
        let invalid = || Error::Malformed(format!("an invalid content-length {first:?}"));
        if !first.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let length = first.parse::<u64>().map_err(|_| invalid())?;
        if lengths.iter().any(|l| l != first) {
            return Err(Error::Malformed("conflicting content-lengths".into()));
        }
        return Ok((Framing::Length(length), keep_alive));
    }
    Ok((Framing::UntilClose, false))
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests;
