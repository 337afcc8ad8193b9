//! The client against servers written byte by byte on real sockets: keep-alive and its
//! pitfalls (a pooled connection the server closed, a body released before its last chunk),
//! framing from the response head, what goes on the wire, TLS.

use super::*;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server running `handle` on each accepted connection; counts the connections.
struct Server {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start<F, Fut>(handle: F) -> Server
    where
        F: Fn(TcpStream, usize) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                connections.spawn(handle(socket, n));
            }
        });
        Server {
            addr,
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn client(&self) -> Client {
        let url = url::Url::parse(&format!("http://{}/v1", self.addr)).unwrap();
        Client::new(&url, &HeaderMap::new(), Duration::from_secs(2)).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request (head and `content-length` body); `None` when the client closed.
async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |l| l.trim().parse::<usize>().unwrap());
            if data.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&data[..end + 4 + length]).to_string());
            }
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
}

fn post<'a>(body: &'a [u8], headers: &'a HeaderMap) -> Request<'a> {
    Request {
        method: &Method::POST,
        target: "/v1/chat/completions?x=1",
        headers,
        body,
    }
}

async fn read_all(body: &mut Body) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    while let Some(data) = body.data().await? {
        out.extend_from_slice(&data);
    }
    Ok(out)
}

const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

/// Answers every request on the connection with `reply`.
async fn answer_all(mut socket: TcpStream, reply: &'static [u8]) {
    while read_request(&mut socket).await.is_some() {
        if socket.write_all(reply).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn requests_reuse_one_kept_alive_connection() {
    let server = Server::start(|socket, _| answer_all(socket, OK_HELLO)).await;
    let client = server.client();
    let headers = HeaderMap::new();
    for _ in 0..3 {
        let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(read_all(&mut response.body).await.unwrap(), b"hello");
        assert_eq!(client.idle_connections(), 1);
    }
    assert_eq!(server.accepted(), 1);
}

/// What one request looks like on the wire: a client for `http://ADDR{base}` with `fixed`
/// headers sends `body` with `headers`; the server's view is returned with ADDR replaced.
async fn on_the_wire(base: &str, fixed: &HeaderMap, headers: &HeaderMap, body: &[u8]) -> String {
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::start(move |mut socket, _| {
        let seen = seen_tx.clone();
        async move {
            let request = read_request(&mut socket).await.unwrap();
            seen.send(request).unwrap();
            socket.write_all(OK_HELLO).await.unwrap();
        }
    })
    .await;
    let url = url::Url::parse(&format!("http://{}{base}", server.addr)).unwrap();
    let client = Client::new(&url, fixed, Duration::from_secs(2)).unwrap();
    let mut response = client.send(&post(body, headers)).await.unwrap();
    read_all(&mut response.body).await.unwrap();
    let request = seen_rx.recv().await.unwrap();
    request.replace(&server.addr.to_string(), "ADDR")
}

#[tokio::test]
async fn the_request_carries_host_length_headers_and_query() {
    let mut fixed = HeaderMap::new();
    fixed.insert(header::AUTHORIZATION, "Bearer k".parse().unwrap());
    let mut headers = HeaderMap::new();
    headers.insert("x-request-id", "req-1".parse().unwrap());
    assert_eq!(
        on_the_wire("/v1", &fixed, &headers, b"{\"a\":1}").await,
        "POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: ADDR\r\naccept: */*\r\n\
         authorization: Bearer k\r\nx-request-id: req-1\r\ncontent-length: 7\r\n\r\n{\"a\":1}"
    );
}

#[tokio::test]
async fn a_body_larger_than_the_socket_buffers_arrives_whole() {
    let body = vec![b'x'; 4 * 1024 * 1024];
    let request = on_the_wire("/v1", &HeaderMap::new(), &HeaderMap::new(), &body).await;
    assert!(request.contains("content-length: 4194304\r\n"));
    assert!(request.ends_with(&format!("\r\n\r\n{}", "x".repeat(body.len()))));
}

#[tokio::test]
async fn configured_headers_replace_the_defaults_and_request_headers_replace_both() {
    let mut fixed = HeaderMap::new();
    fixed.insert(header::HOST, "vllm.internal".parse().unwrap());
    fixed.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    assert_eq!(
        on_the_wire("/", &fixed, &headers, b"{}").await,
        "POST /v1/chat/completions?x=1 HTTP/1.1\r\naccept: */*\r\nhost: vllm.internal\r\n\
         content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    );
}

#[tokio::test]
async fn a_stream_released_before_its_last_chunk_leaves_a_reusable_connection() {
    let server = Server::start(|mut socket, _| async move {
        read_request(&mut socket).await.unwrap();
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(b"e\r\ndata: [DONE]\n\n\r\n").await.unwrap();
        // The terminating chunk comes later, as from servers that write it separately.
        tokio::time::sleep(Duration::from_millis(50)).await;
        socket.write_all(b"0\r\n\r\n").await.unwrap();
        answer_all(socket, OK_HELLO).await;
    })
    .await;
    let client = server.client();
    let headers = HeaderMap::new();
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    let first = response.body.data().await.unwrap().unwrap();
    assert_eq!(&first[..], b"data: [DONE]\n\n");
    response.body.release();
    assert_eq!(client.idle_connections(), 1);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    assert_eq!(read_all(&mut response.body).await.unwrap(), b"hello");
    assert_eq!(server.accepted(), 1, "the released connection was reused");
}

#[tokio::test]
async fn a_released_connection_waits_for_its_last_chunk_while_others_serve() {
    let server = Server::start(|mut socket, _| async move {
        while read_request(&mut socket).await.is_some() {
            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            socket.write_all(b"0\r\n\r\n").await.unwrap();
        }
    })
    .await;
    let client = server.client();
    let headers = HeaderMap::new();
    // Released at once, asked again at once: the first connection's end has not arrived, so
    // the second request opens another, and the first goes back to wait.
    for _ in 0..2 {
        let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
        response.body.data().await.unwrap().unwrap();
        response.body.release();
    }
    assert_eq!(server.accepted(), 2);
    tokio::time::sleep(Duration::from_millis(150)).await;
    for _ in 0..4 {
        let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
        assert_eq!(read_all(&mut response.body).await.unwrap(), b"hello");
    }
    assert_eq!(server.accepted(), 2, "both connections were reused");
    assert_eq!(client.idle_connections(), 2);
}

#[tokio::test]
async fn a_pooled_connection_closed_long_after_the_request_is_not_retried() {
    let server = Server::start(|mut socket, _| async move {
        read_request(&mut socket).await.unwrap();
        socket.write_all(OK_HELLO).await.unwrap();
        // Takes the next request, works on it for a while, then dies without answering:
        // it may have acted on it, so sending it again is not the client's call.
        read_request(&mut socket).await;
        tokio::time::sleep(RETRY_WINDOW * 2).await;
    })
    .await;
    let client = server.client();
    let headers = HeaderMap::new();
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    read_all(&mut response.body).await.unwrap();
    let err = client.send(&post(b"{}", &headers)).await.err().unwrap();
    assert!(matches!(err, Error::Closed(_)), "{err}");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_released_body_whose_end_never_came_is_not_reused() {
    let server = Server::start(|mut socket, n| async move {
        read_request(&mut socket).await.unwrap();
        if n == 0 {
            let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n";
            socket.write_all(head.as_bytes()).await.unwrap();
            // Keeps streaming: the body never ends.
            tokio::time::sleep(Duration::from_secs(30)).await;
        } else {
            socket.write_all(OK_HELLO).await.unwrap();
        }
    })
    .await;
    let client = server.client();
    let headers = HeaderMap::new();
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    response.body.data().await.unwrap().unwrap();
    response.body.release();
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    assert_eq!(read_all(&mut response.body).await.unwrap(), b"hello");
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_pooled_connection_closed_before_answering_is_retried_on_a_new_one() {
    let server = Server::start(|mut socket, n| async move {
        read_request(&mut socket).await.unwrap();
        socket.write_all(OK_HELLO).await.unwrap();
        if n == 0 {
            // Reads the next request, then closes without a word (a server that timed the
            // connection out just as the request arrived).
            read_request(&mut socket).await;
            return;
        }
        answer_all(socket, OK_HELLO).await;
    })
    .await;
    let client = server.client();
    let headers = HeaderMap::new();
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    read_all(&mut response.body).await.unwrap();
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    assert_eq!(read_all(&mut response.body).await.unwrap(), b"hello");
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_not_used() {
    let server = Server::start(|mut socket, _| async move {
        read_request(&mut socket).await.unwrap();
        socket.write_all(OK_HELLO).await.unwrap();
    })
    .await;
    let client = server.client();
    let headers = HeaderMap::new();
    for _ in 0..2 {
        let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
        assert_eq!(read_all(&mut response.body).await.unwrap(), b"hello");
        // Let the close reach this side.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_new_connection_closed_before_answering_is_an_error_not_a_retry() {
    let server = Server::start(|mut socket, _| async move {
        read_request(&mut socket).await;
    })
    .await;
    let client = server.client();
    let headers = HeaderMap::new();
    let err = client.send(&post(b"{}", &headers)).await.err().unwrap();
    assert!(matches!(err, Error::Closed(_)), "{err}");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_connection_idle_past_the_idle_timeout_is_not_reused() {
    let server = Server::start(|socket, _| answer_all(socket, OK_HELLO)).await;
    let client = server.client();
    let headers = HeaderMap::new();
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    read_all(&mut response.body).await.unwrap();
    // The clock is paused only to skip the idle timeout: while sockets are in flight, a
    // paused clock would jump to the connect timeout.
    tokio::time::pause();
    tokio::time::advance(IDLE_TIMEOUT).await;
    tokio::time::resume();
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    read_all(&mut response.body).await.unwrap();
    assert_eq!(server.accepted(), 2);
}

/// Sends one request to a server that answers `reply` and closes; returns the status, the
/// body (or the error) and whether the connection went back to the pool.
async fn exchange(reply: &'static [u8]) -> (StatusCode, Result<Vec<u8>, String>, bool) {
    let server = Server::start(move |mut socket, _| async move {
        read_request(&mut socket).await.unwrap();
        socket.write_all(reply).await.unwrap();
        // Holds the connection open a moment, unless the reply says it ends at the close.
        if !reply.ends_with(b"#close") {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let client = server.client();
    let headers = HeaderMap::new();
    let mut response = client.send(&post(b"{}", &headers)).await.unwrap();
    let body = read_all(&mut response.body)
        .await
        .map_err(|e| e.to_string());
    (response.status, body, client.idle_connections() == 1)
}

#[tokio::test]
async fn framing_follows_the_response_head() {
    // Interim responses are skipped.
    let (status, body, pooled) =
        exchange(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await;
    assert_eq!(
        (status, body.unwrap(), pooled),
        (StatusCode::OK, b"ok".to_vec(), true)
    );
    // No body at all.
    let (status, body, pooled) = exchange(b"HTTP/1.1 204 No Content\r\n\r\n").await;
    assert_eq!(
        (status, body.unwrap(), pooled),
        (StatusCode::NO_CONTENT, vec![], true)
    );
    // `Connection: close` and HTTP/1.0: read, then not reused.
    let (_, body, pooled) =
        exchange(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok").await;
    assert_eq!((body.unwrap(), pooled), (b"ok".to_vec(), false));
    let (_, body, pooled) = exchange(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
    assert_eq!((body.unwrap(), pooled), (b"ok".to_vec(), false));
    // HTTP/1.0 has no chunked coding: read, then closed whatever it says.
    let (_, body, pooled) = exchange(
        b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!((body.unwrap(), pooled), (b"ok".to_vec(), false));
    // No length: the body runs to the close.
    let (_, body, pooled) = exchange(b"HTTP/1.1 200 OK\r\n\r\nuntil#close").await;
    assert_eq!((body.unwrap(), pooled), (b"until#close".to_vec(), false));
    // A length the connection does not deliver.
    let (_, body, _) = exchange(b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\nshort#close").await;
    assert!(body.unwrap_err().contains("before the body ended"));
}

#[tokio::test]
async fn broken_response_heads_are_malformed() {
    for reply in [
        &b"SSH-2.0-OpenSSH_9.6\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\xff\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nx",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ] {
        let server = Server::start(move |mut socket, _| async move {
            read_request(&mut socket).await.unwrap();
            socket.write_all(reply).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        })
        .await;
        let headers = HeaderMap::new();
        let err = server.client().send(&post(b"{}", &headers)).await.err();
        assert!(
            matches!(err, Some(Error::Malformed(_))),
            "{:?}: {err:?}",
            String::from_utf8_lossy(reply)
        );
    }
}

#[tokio::test]
async fn a_huge_response_head_is_refused() {
    let server = Server::start(|mut socket, _| async move {
        read_request(&mut socket).await.unwrap();
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\n").await;
        let line = format!("x-filler: {}\r\n", "a".repeat(1000));
        for _ in 0..100 {
            if socket.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let headers = HeaderMap::new();
    let err = server.client().send(&post(b"{}", &headers)).await.err();
    assert!(
        matches!(err, Some(Error::Malformed(ref m)) if m.contains("64 KiB")),
        "{err:?}"
    );
}

#[tokio::test]
async fn https_with_a_trusted_certificate_and_an_untrusted_one() {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{self, RootCertStore};

    // A leaf for localhost/127.0.0.1 signed by a test CA (its key was thrown away).
    let cert =
        CertificateDer::from_pem_slice(include_bytes!("testdata/localhost.cert.pem")).unwrap();
    let ca = CertificateDer::from_pem_slice(include_bytes!("testdata/ca.cert.pem")).unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("testdata/localhost.key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let server = Server::start(move |socket, _| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(socket).await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            tls.write_all(OK_HELLO).await.unwrap();
            tls.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    let url = url::Url::parse(&format!("https://localhost:{}/", server.addr.port())).unwrap();
    let client_for = |roots: RootCertStore| {
        let target = Target {
            host: "127.0.0.1".into(),
            port: server.addr.port(),
            tls: Some(Tls {
                config: conn::tls_config_with(roots).unwrap(),
                name: ServerName::try_from("localhost").unwrap(),
            }),
        };
        Client::with_target(target, &url, &HeaderMap::new(), Duration::from_secs(2))
    };
    let mut trusting = RootCertStore::empty();
    trusting.add(ca).unwrap();
    let headers = HeaderMap::new();
    let mut response = client_for(trusting)
        .send(&post(b"{}", &headers))
        .await
        .unwrap();
    assert_eq!(read_all(&mut response.body).await.unwrap(), b"hello");

    let err = client_for(RootCertStore::empty())
        .send(&post(b"{}", &headers))
        .await
        .err();
    assert!(matches!(err, Some(Error::Connect(_))), "{err:?}");
}

#[test]
fn http_and_https_urls_are_taken_other_schemes_are_not() {
    let url = url::Url::parse("https://api.example.com/v1").unwrap();
    assert!(Client::new(&url, &HeaderMap::new(), Duration::from_secs(1)).is_ok());
    let url = url::Url::parse("ftp://example.com/").unwrap();
    assert!(Client::new(&url, &HeaderMap::new(), Duration::from_secs(1)).is_err());
}
