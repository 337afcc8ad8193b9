//! The accept loop: one HTTP/1.1 connection task per client, each tracked, shut down
//! gracefully on `stop` (the response in flight finishes, keep-alive ends).
//!
//! Limits that keep the gateway reachable: at most `max_connections` connections are open at
//! once (beyond it new ones wait in the kernel's listen backlog, see below), a request head
//! must arrive within 30 s (hyper's header timeout, which also closes a keep-alive connection
//! idle that long), and a request body within `body_timeout` (`body_deadline.rs`).
//!
//! Why wait in the backlog rather than accept and close at once: a connection over the cap
//! costs nothing there (no descriptor, no memory in the gateway) and is served as soon as
//! another closes, which the timeouts above guarantee within 30 s for idle or stalled
//! clients; closing it at once would give the client no HTTP answer to act on, only a reset
//! it would typically retry at once. Requests over the in-flight cap, which do get a fast
//! 503, are `guard::in_flight`'s.
//!
//! Why not `axum::serve`: it serves through hyper-util's HTTP/1-or-2 auto-detection, which
//! reads the first 24 bytes of each connection apart to look for the HTTP/2 preface and hands
//! them back as a short first read; hyper then finds the request head incomplete and doubles
//! the connection's read buffer to 16 KiB, which every open stream kept for its lifetime
//! (8 KiB per connection, the largest single item in the gateway's memory with 1,000 open
//! streams). The clients we serve (Ollama's and OpenAI's libraries, editors, GitLab) speak
//! HTTP/1.1 over plain TCP, as do Ollama and vLLM themselves; HTTP/2 without TLS
//! (prior knowledge) is not offered.

mod body_deadline;
mod coalesce;

use axum::Router;
use axum::extract::Request;
use body_deadline::DeadlineBody;
use coalesce::Coalesced;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The limits the accept loop enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    pub max_connections: usize,
    pub body_timeout: Duration,
}

/// How often, at most, the gateway logs that it is at its connection cap.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `stop` is cancelled, then waits for every open
/// connection to finish its response in flight. Dropping the returned future aborts the
/// connections that are left.
pub(crate) async fn serve_http1(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    limits: ConnectionLimits,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    // The timer enables hyper's header read timeout (30 s by default): a client that opens
    // a connection and never finishes its request head does not hold it forever.
    http.timer(TokioTimer::new());
    let body_timeout = limits.body_timeout;
    let service = tower::ServiceBuilder::new()
        .map_request(move |req: Request<hyper::body::Incoming>| {
            req.map(|body| DeadlineBody::new(body, body_timeout))
        })
        .service(app);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut warned_at: Option<Instant> = None;
    let mut connections = JoinSet::new();
    loop {
        if slots.available_permits() == 0
            && warned_at.is_none_or(|at| at.elapsed() >= CAP_WARNING_EVERY)
        {
            warned_at = Some(Instant::now());
            tracing::warn!(
                max_connections = limits.max_connections,
                "At the connection limit: new connections wait in the listen backlog"
            );
        }
        let (tcp, slot) = tokio::select! {
            accepted = accept_within(&listener, &slots) => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(&err).await;
                    continue;
                }
            },
            Some(done) = connections.join_next(), if !connections.is_empty() => {
                if let Err(err) = done
                    && err.is_panic()
                {
                    tracing::error!(error = %err, "A connection task panicked");
                }
                continue;
            }
            () = stop.cancelled() => break,
        };
        // Without TCP_NODELAY, Nagle holds each small stream frame until the client ACKs
        // the previous one: chunks of a stream arrived up to 40 ms late (a delayed ACK).
        let _ = tcp.set_nodelay(true);
        // Handlers run in the connection's task and wake it when they read the request body:
        // `coalesce` polls it again at once rather than through a yield that wakes another
        // worker.
        let mut conn = Coalesced::new(
            http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service.clone())),
        );
        let stop = stop.clone();
        connections.spawn(async move {
            // Held for the connection's life.
            let _slot = slot;
            let result = tokio::select! {
                result = &mut conn => result,
                () = stop.cancelled() => {
                    conn.inner().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                // Resets, clients that leave mid-request, header timeouts: the client's
                // business, not the gateway's health.
                tracing::debug!(error = %err, "Connection ended with an error");
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Waits for a free connection slot, then for a connection. Dropping it (another `select!`
/// arm won) gives the slot back; `accept` itself is cancel-safe.
async fn accept_within(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> io::Result<(TcpStream, OwnedSemaphorePermit)> {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| io::Error::other("the connection slots were closed"))?;
    let (tcp, _peer) = listener.accept().await?;
    Ok((tcp, slot))
}

/// Out of file descriptors or memory: wait a moment instead of spinning on `accept`.
/// Errors that belong to one connection (reset before it was accepted) need no pause.
async fn accept_failed(err: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "Accepting a connection failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// `/` answers at once; `/slow` streams three chunks 100 ms apart; `/echo` reads the
    /// body (400 with the reason when that fails) and sends it back.
    fn app() -> Router {
        Router::new()
            .route("/", get(|| async { "hello" }))
            .route(
                "/echo",
                axum::routing::post(|req: Request| async move {
                    match axum::body::to_bytes(req.into_body(), 1 << 20).await {
                        Ok(body) => (axum::http::StatusCode::OK, body).into_response(),
                        Err(e) => {
                            (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response()
                        }
                    }
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    let chunks = futures::stream::unfold(0, |i| async move {
                        if i == 3 {
                            return None;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Some((Ok::<_, io::Error>(format!("chunk{i};")), i + 1))
                    });
                    Body::from_stream(chunks)
                }),
            )
    }

    type Server = (
        SocketAddr,
        CancellationToken,
        tokio::task::JoinHandle<io::Result<()>>,
    );

    async fn start() -> Server {
        start_with(LIMITS).await
    }

    async fn start_with(limits: ConnectionLimits) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve_http1(listener, app(), stop.clone(), limits));
        (addr, stop, server)
    }

    const LIMITS: ConnectionLimits = ConnectionLimits {
        max_connections: 1000,
        body_timeout: Duration::from_secs(30),
    };

    async fn send(tcp: &mut TcpStream, path: &str) {
        let head = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
        tcp.write_all(head.as_bytes()).await.unwrap();
    }

    /// Reads until `needle` has arrived (or the connection closes); returns all of it.
    async fn read_until(tcp: &mut TcpStream, needle: &str) -> String {
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = tcp.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    #[tokio::test]
    async fn keep_alive_connections_serve_several_requests() {
        let (addr, stop, server) = start().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        for _ in 0..3 {
            send(&mut tcp, "/").await;
            let answer = read_until(&mut tcp, "hello").await;
            assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        }
        stop.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections_and_lets_a_response_in_flight_finish() {
        let (addr, stop, server) = start().await;
        // An idle keep-alive connection must not hold the shutdown up.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        send(&mut idle, "/").await;
        read_until(&mut idle, "hello").await;
        let mut streaming = TcpStream::connect(addr).await.unwrap();
        send(&mut streaming, "/slow").await;
        read_until(&mut streaming, "chunk0;").await;

        stop.cancel();
        let rest = read_until(&mut streaming, "chunk2;").await;
        assert!(rest.contains("chunk2;"), "the stream was cut: {rest}");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("shutdown waited on an idle connection")
            .unwrap()
            .unwrap();
        // Both connections are closed, and nothing listens any more.
        assert_eq!(idle.read(&mut [0u8; 16]).await.unwrap(), 0);
        assert!(TcpStream::connect(addr).await.is_err());
    }

    /// A client that never finishes its request head is dropped after hyper's 30 s header
    /// timeout (paused clock: the runtime jumps ahead while everything waits).
    #[tokio::test(start_paused = true)]
    async fn an_unfinished_request_head_is_dropped_after_30_s() {
        let (addr, stop, server) = start().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: te").await.unwrap();
        let begun = tokio::time::Instant::now();
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest).await;
        let waited = begun.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
            "{waited:?}"
        );
        stop.cancel();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_request_head_split_across_reads_is_served() {
        let (addr, stop, server) = start().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        for part in ["GET / HT", "TP/1.1\r\nhost:", " test\r\n", "\r\n"] {
            tcp.write_all(part.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(read_until(&mut tcp, "hello").await.contains("200 OK"));
        stop.cancel();
        server.await.unwrap().unwrap();
    }

    /// A keep-alive connection that sends nothing more is closed by the same 30 s header
    /// timeout, so idle clients cannot hold connection slots forever either.
    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_is_closed_after_30_s() {
        let (addr, stop, server) = start().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        send(&mut tcp, "/").await;
        read_until(&mut tcp, "hello").await;
        let begun = tokio::time::Instant::now();
        assert_eq!(tcp.read(&mut [0u8; 16]).await.unwrap(), 0);
        let waited = begun.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
            "{waited:?}"
        );
        stop.cancel();
        server.await.unwrap().unwrap();
    }

    fn post_head(length: usize) -> String {
        format!("POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: {length}\r\n\r\n")
    }

    /// A client that sends its headers and never its body is answered 400 and disconnected
    /// once `body_timeout` has passed (paused clock).
    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_comes_is_cut_at_the_body_timeout() {
        let (addr, stop, server) = start().await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(post_head(10).as_bytes()).await.unwrap();
        let begun = tokio::time::Instant::now();
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.unwrap();
        let waited = begun.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
            "{waited:?}"
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(
            answer.contains("the request body did not arrive within 30s"),
            "{answer}"
        );
        stop.cancel();
        server.await.unwrap().unwrap();
    }

    /// The same on the real clock: a body cut short is dropped at the deadline, a slow body
    /// that arrives in time is served, and the connection then stays usable.
    #[tokio::test]
    async fn a_stalled_body_is_cut_on_a_real_socket_and_a_slow_one_in_time_is_served() {
        let limits = ConnectionLimits {
            body_timeout: Duration::from_millis(300),
            ..LIMITS
        };
        let (addr, stop, server) = start_with(limits).await;
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled.write_all(post_head(10).as_bytes()).await.unwrap();
        stalled.write_all(b"12345").await.unwrap();
        let begun = std::time::Instant::now();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut answer))
            .await
            .expect("the stalled client was not dropped")
            .unwrap();
        assert!(
            begun.elapsed() >= Duration::from_millis(250),
            "{:?}",
            begun.elapsed()
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("did not arrive within 300ms"), "{answer}");

        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.set_nodelay(true).unwrap();
        slow.write_all(post_head(4).as_bytes()).await.unwrap();
        for byte in ["a", "b", "c", "d"] {
            tokio::time::sleep(Duration::from_millis(40)).await;
            slow.write_all(byte.as_bytes()).await.unwrap();
        }
        let answer = read_until(&mut slow, "abcd").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        send(&mut slow, "/").await;
        assert!(read_until(&mut slow, "hello").await.contains("200 OK"));
        stop.cancel();
        server.await.unwrap().unwrap();
    }

    /// Over `max_connections`, a new connection waits in the backlog, unserved, until an
    /// open one closes; then it is served.
    #[tokio::test]
    async fn over_the_connection_cap_a_connection_waits_until_one_closes() {
        let limits = ConnectionLimits {
            max_connections: 2,
            ..LIMITS
        };
        let (addr, stop, server) = start_with(limits).await;
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            send(&mut tcp, "/").await;
            assert!(read_until(&mut tcp, "hello").await.contains("200 OK"));
            open.push(tcp);
        }
        // The kernel completes the handshake; the gateway does not take the connection.
        let mut waiting = TcpStream::connect(addr).await.unwrap();
        send(&mut waiting, "/").await;
        let early =
            tokio::time::timeout(Duration::from_millis(300), waiting.read(&mut [0u8; 64])).await;
        assert!(
            early.is_err(),
            "a connection over the cap was served: {early:?}"
        );
        drop(open.pop());
        let answer =
            tokio::time::timeout(Duration::from_secs(5), read_until(&mut waiting, "hello"))
                .await
                .expect("the waiting connection was not served after a slot freed");
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        stop.cancel();
        drop((open, waiting));
        server.await.unwrap().unwrap();
    }
}
