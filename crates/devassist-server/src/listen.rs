//! The accept loop: one HTTP/1.1 connection task per client, each tracked, shut down
//! gracefully on `stop` (the response in flight finishes, keep-alive ends).
//!
//! Why not `axum::serve`: it serves through hyper-util's HTTP/1-or-2 auto-detection, which
//! reads the first 24 bytes of each connection apart to look for the HTTP/2 preface and hands
//! them back as a short first read; hyper then finds the request head incomplete and doubles
//! the connection's read buffer to 16 KiB, which every open stream kept for its lifetime
//! (8 KiB per connection, the largest single item in the gateway's memory with 1,000 open
//! streams). The clients we serve (Ollama's and OpenAI's libraries, editors, GitLab) speak
//! HTTP/1.1 over plain TCP, as do Ollama and vLLM themselves; HTTP/2 without TLS
//! (prior knowledge) is not offered.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::io;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Serves `app` on `listener` until `stop` is cancelled, then waits for every open
/// connection to finish its response in flight. Dropping the returned future aborts the
/// connections that are left.
pub(crate) async fn serve_http1(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    // The timer enables hyper's header read timeout (30 s by default): a client that opens
    // a connection and never finishes its request head does not hold it forever.
    http.timer(TokioTimer::new());
    let mut connections = JoinSet::new();
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => tcp,
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
        let conn = http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app.clone()));
        let stop = stop.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
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
    use axum::routing::get;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    /// `/` answers at once; `/slow` streams three chunks 100 ms apart.
    fn app() -> Router {
        Router::new().route("/", get(|| async { "hello" })).route(
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

    async fn start() -> (
        SocketAddr,
        CancellationToken,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve_http1(listener, app(), stop.clone()));
        (addr, stop, server)
    }

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
}
