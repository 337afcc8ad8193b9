//! Connections to a plain-HTTP (`http://`) upstream: hyper's `client::conn::http1` for the
//! protocol, a pool of sockets of ours, and each connection driven by the task that reads
//! its response.
//!
//! Why not hyper-util's pooled client, which `https://` upstreams keep (ALPN may choose
//! HTTP/2 there): a pooled hyper-util connection is a task of its own holding hyper's read
//! and write buffers and a request channel for as long as it lives, idle or not, and every
//! request and every chunk of every stream crosses from that task to the caller's. Here a
//! request takes an idle socket (or connects), does hyper's handshake on it (no I/O: it
//! builds the connection state), and the caller's own task polls the connection together
//! with the response, so a chunk read from the upstream is in the caller's hands in the same
//! poll. When the response has been read to its end the socket goes back to the pool and
//! hyper's state is dropped: an idle upstream connection is a socket and nothing else.
//!
//! Sending twice: a request goes on a pooled socket only after a check that the upstream has
//! not closed it (a read that would block); if hyper still hands the request back unwritten
//! (the socket died in between), it is sent once more on a new connection. A request that
//! was written, in part or whole, is never sent again: its failure reaches the caller.
//!
//! Reuse: only after a response read to its end on HTTP/1.1 without `Connection: close`,
//! framed by `Content-Length` or chunked encoding, with no byte left over. Idle sockets are
//! closed after `IDLE_TIMEOUT` by a timer task that runs while the pool has any, and checks
//! on each tick that the upstream has not closed them.

use super::connect::{Connector, Stream};
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Request, Response, Uri, Version};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1;
use hyper_rustls::MaybeHttpsStream;
use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower_service::Service;

type Io = MaybeHttpsStream<Stream>;
type Conn = http1::Connection<Io, Full<Bytes>>;
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often the pool's timer looks at its idle sockets while it has any.
const TICK: Duration = Duration::from_secs(5);
/// How long a connection whose response has been read may take to finish its exchange.
const FINISH: Duration = Duration::from_secs(5);

/// Why a request got no response head.
pub(super) enum Failure {
    /// No connection: nothing was sent.
    Connect(BoxError),
    /// hyper's error on the connection; `written` when the request may have reached the
    /// upstream (hyper did not hand it back).
    Http { err: hyper::Error, written: bool },
}

/// The sockets of one upstream.
#[derive(Clone)]
pub(super) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Connector,
    /// Where the connector connects (the upstream's origin).
    dst: Uri,
    max_idle: usize,
    idle_timeout: Duration,
    max_buf: usize,
    idle: Mutex<Vec<Idle>>,
    /// Whether the timer task runs.
    ticking: AtomicBool,
}

struct Idle {
    io: Io,
    since: Instant,
}

impl Pool {
    pub fn new(
        connector: Connector,
        dst: Uri,
        max_idle: usize,
        idle_timeout: Duration,
        max_buf: usize,
    ) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                connector,
                dst,
                max_idle,
                idle_timeout,
                max_buf,
                idle: Mutex::new(Vec::new()),
                ticking: AtomicBool::new(false),
            }),
        }
    }

    /// Sends `req` and waits for the response head. `handed` is set once the request may
    /// have been written (for a caller whose deadline cuts this short).
    pub async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
        handed: &AtomicBool,
    ) -> Result<Response<PooledBody>, Failure> {
        // One more try, on a new connection, for a request hyper handed back unwritten
        // from a pooled socket.
        let mut fresh_only = false;
        loop {
            let (io, reused) = match self.checkout(fresh_only) {
                Some(io) => (io, true),
                None => (self.connect().await?, false),
            };
            match self.exchange(io, req, handed).await {
                Ok(response) => return Ok(response),
                Err(Exchange::Unsent(err, back)) if reused => {
                    tracing::debug!(error = %err, "Pooled upstream connection closed before the request was written; sending on a new one");
                    req = *back;
                    fresh_only = true;
                }
                Err(Exchange::Unsent(err, _)) => {
                    return Err(Failure::Http {
                        err,
                        written: false,
                    });
                }
                Err(Exchange::Failed(err)) => return Err(Failure::Http { err, written: true }),
            }
        }
    }

    /// Idle sockets in the pool.
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.inner.idle.lock().unwrap().len()
    }

    async fn connect(&self) -> Result<Io, Failure> {
        let mut connector = self.inner.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(Failure::Connect)?;
        connector
            .call(self.inner.dst.clone())
            .await
            .map_err(Failure::Connect)
    }

    /// The most recently used idle socket the upstream has not closed.
    fn checkout(&self, fresh_only: bool) -> Option<Io> {
        if fresh_only {
            return None;
        }
        let now = Instant::now();
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(mut conn) = idle.pop() {
            if now.duration_since(conn.since) < self.inner.idle_timeout && still_open(&mut conn.io)
            {
                return Some(conn.io);
            }
        }
        None
    }

    async fn exchange(
        &self,
        io: Io,
        req: Request<Full<Bytes>>,
        handed: &AtomicBool,
    ) -> Result<Response<PooledBody>, Exchange> {
        let (mut sender, conn) = http1::Builder::new()
            .writev(true)
            .max_buf_size(self.inner.max_buf)
            .handshake::<Io, Full<Bytes>>(io)
            .await
            .map_err(Exchange::Failed)?;
        // hyper's connection state is large: on the heap, it is not copied into every
        // future that awaits this one (the handler's, boxed per request by the router).
        let mut conn = Box::new(conn);
        let response = sender.try_send_request(req);
        // The request is queued; with the sender gone the connection ends (and gives its
        // socket back) once this one exchange is over.
        drop(sender);
        handed.store(true, Ordering::Relaxed);
        let mut response = std::pin::pin!(response);
        let mut conn_done = None;
        let result = std::future::poll_fn(|cx| {
            if conn_done.is_none()
                && let Poll::Ready(result) = conn.poll_without_shutdown(cx)
            {
                // An error reaches the response future too, and so does an end before the
                // head (hyper cancels what it did not answer).
                conn_done = Some(result.is_ok());
            }
            response.as_mut().poll(cx)
        })
        .await;
        match result {
            Ok(response) => {
                let mut driver = Driver {
                    conn: Some(conn),
                    pool: Arc::downgrade(&self.inner),
                    reusable: keeps_alive(&response),
                };
                let conn = match conn_done {
                    // Over already (a response without a body): the socket goes back now.
                    Some(ok) => {
                        driver.finish(ok);
                        None
                    }
                    None => Some(driver),
                };
                Ok(response.map(|body| PooledBody { body, conn }))
            }
            Err(mut err) => match err.take_message() {
                Some(req) => Err(Exchange::Unsent(err.into_error(), Box::new(req))),
                None => Err(Exchange::Failed(err.into_error())),
            },
        }
    }
}

enum Exchange {
    /// hyper handed the request back: not a byte of it was written.
    Unsent(hyper::Error, Box<Request<Full<Bytes>>>),
    Failed(hyper::Error),
}

impl Inner {
    fn checkin(self: &Arc<Self>, io: Io) {
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() >= self.max_idle {
                // The oldest goes: the pool keeps the connections it uses.
                idle.remove(0);
            }
            idle.push(Idle {
                io,
                since: Instant::now(),
            });
        }
        if !self.ticking.swap(true, Ordering::AcqRel) {
            let pool = Arc::downgrade(self);
            let tick = TICK.min(self.idle_timeout);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(tick).await;
                    let Some(pool) = pool.upgrade() else { return };
                    if !pool.reap() {
                        return;
                    }
                }
            });
        }
    }

    /// Closes sockets idle too long or closed by the upstream; false (and the timer stops)
    /// when none is left.
    fn reap(&self) -> bool {
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain_mut(|c| {
            now.duration_since(c.since) < self.idle_timeout && still_open(&mut c.io)
        });
        if idle.is_empty() {
            self.ticking.store(false, Ordering::Release);
            return false;
        }
        true
    }
}

/// Whether an idle socket is still open: a read would block. End of file (the upstream
/// closed it), bytes nobody asked for, or an error: it is not.
fn still_open(io: &mut Io) -> bool {
    let mut byte = [MaybeUninit::<u8>::uninit(); 1];
    let mut buf = hyper::rt::ReadBuf::uninit(&mut byte);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    matches!(
        hyper::rt::Read::poll_read(Pin::new(io), &mut cx, buf.unfilled()),
        Poll::Pending
    )
}

/// Whether the connection may carry another request once this response is read: HTTP/1.1,
/// no `Connection: close`, a body framed by length or chunks (not by the close).
fn keeps_alive<B>(response: &Response<B>) -> bool {
    let headers = response.headers();
    response.version() == Version::HTTP_11
        && !headers.get_all(CONNECTION).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("close"))
        })
        && (headers.contains_key(CONTENT_LENGTH) || headers.contains_key(TRANSFER_ENCODING))
}

/// A response body from a pooled connection: reading it drives the connection.
pub(crate) struct PooledBody {
    body: Incoming,
    conn: Option<Driver>,
}

struct Driver {
    conn: Option<Box<Conn>>,
    pool: Weak<Inner>,
    reusable: bool,
}

impl Driver {
    /// Polls the connection; true once it is over (its socket back in the pool, or closed).
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return true;
        };
        match conn.poll_without_shutdown(cx) {
            Poll::Pending => false,
            Poll::Ready(result) => {
                self.finish(result.is_ok());
                true
            }
        }
    }

    /// The connection is over: its socket goes back to the pool if it may serve another
    /// request, and is closed otherwise.
    fn finish(&mut self, ok: bool) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if !ok || !self.reusable {
            return;
        }
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        let parts = conn.into_parts();
        if parts.read_buf.is_empty() {
            pool.checkin(parts.io);
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(driver) = &mut this.conn
            && driver.poll(cx)
        {
            this.conn = None;
        }
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = frame
            && let Some(mut driver) = this.conn.take()
            && !driver.poll(cx)
        {
            // The body is over and the connection not quite (hyper still writing a request
            // body the upstream answered early): it gets `FINISH` on its own, then closes.
            tokio::spawn(tokio::time::timeout(
                FINISH,
                std::future::poll_fn(move |cx| {
                    if driver.poll(cx) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                }),
            ));
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
