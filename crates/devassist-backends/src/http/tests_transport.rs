//! The transport against upstreams written byte by byte on real sockets: a request is never
//! sent twice once written, every failure says how far the request got (`Reached`), the
//! head, body and idle-connection timers (on tokio's paused clock), keep-alive reuse, what
//! goes on the wire, TLS with a CA bundle and a client certificate, HTTP/2 by ALPN, and
//! error bodies that echo credentials.

use super::test_raw::{COMPLETION, RawServer, answer_json, read_request, wait_for_close};
use super::test_tls::Pki;
use super::*;
use crate::OpenAiBackend;
use crate::test_server::refused_addr;
use devassist_core::{Backend, GenerateRequest, Message, Prompt, Role};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use tokio::io::AsyncWriteExt;

const KEY: &str = "sk-test-0123456789abcdef";

fn config(url: String) -> HttpConfig {
    HttpConfig {
        base_url: url,
        api_key: Some(KEY.into()),
        connect_timeout: Duration::from_millis(500),
        head_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(5),
        ..HttpConfig::default()
    }
}

fn upstream(addr: SocketAddr) -> Upstream {
    Upstream::new(&config(format!("http://{addr}/v1"))).unwrap()
}

fn ctx() -> CallContext {
    CallContext::new("req-transport")
}

async fn post(up: &Upstream, answer: Answer) -> Result<Call, GatewayError> {
    up.send_checked(
        Method::POST,
        "/chat/completions",
        Body::Json(json!({"model": "m"})),
        answer,
        &ctx(),
    )
    .await
}

async fn post_err(up: &Upstream) -> GatewayError {
    match post(up, Answer::Streamed).await {
        Ok(call) => panic!("expected an error, got {}", call.response.status),
        Err(err) => err,
    }
}

fn chat(stream: bool) -> GenerateRequest {
    let mut req = GenerateRequest::new(
        "m",
        Prompt::Chat {
            messages: vec![Message::new(Role::User, "hi")],
            tools: Vec::new(),
        },
    );
    req.stream = stream;
    req
}

#[tokio::test]
async fn a_request_written_to_a_connection_that_closes_is_sent_once() {
    // Connection 0 answers its first request and keeps the connection; every request after
    // that is read whole and the connection closed without a word.
    let server = RawServer::start(|mut socket, n, counts| async move {
        if n == 0 {
            if read_request(&mut socket, &counts).await.is_none() {
                return;
            }
            answer_json(&mut socket, 200, COMPLETION).await;
        }
        let _ = read_request(&mut socket, &counts).await;
    })
    .await;
    let backend = OpenAiBackend::new(config(format!("http://{}/v1", server.addr))).unwrap();
    // The first call is answered and leaves its connection in the pool.
    let stream = backend.generate(chat(false), &ctx()).await.unwrap();
    let (events, err) = crate::test_server::drain(stream).await;
    assert!(err.is_none() && !events.is_empty());
    assert_eq!(server.counts.requests(), 1);

    // On the reused connection: read, then closed without an answer. Sent once, not again on
    // a new connection.
    let err = backend.generate(chat(false), &ctx()).await.err().unwrap();
    assert_eq!(
        (err.kind, err.status()),
        (ErrorKind::BackendError, 502),
        "{err}"
    );
    assert_eq!(err.reached, Reached::Written, "{err}");
    assert!(!err.may_resend());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.counts.requests(), 2, "the request was sent again");
    assert_eq!(server.counts.connections(), 1);

    // On a new connection: the same.
    let err = backend.generate(chat(true), &ctx()).await.err().unwrap();
    assert_eq!(
        (err.status(), err.reached),
        (502, Reached::Written),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.counts.requests(), 3, "the request was sent again");
    assert_eq!(server.counts.connections(), 2);
}

#[tokio::test]
async fn a_connection_reset_after_the_request_is_written() {
    let server = RawServer::start(|mut socket, _, counts| async move {
        if read_request(&mut socket, &counts).await.is_some() {
            // SO_LINGER 0: the close sends a reset.
            let _ = socket.set_zero_linger();
        }
    })
    .await;
    let err = post_err(&upstream(server.addr)).await;
    assert_eq!(
        (err.status(), err.reached),
        (502, Reached::Written),
        "{err}"
    );
    assert_eq!(server.counts.requests(), 1);
}

#[tokio::test]
async fn failures_before_a_byte_was_sent_are_not_sent_and_may_be_resent() {
    let refused = upstream(refused_addr().await);
    let unresolvable =
        Upstream::new(&config("http://no-such-host.invalid:8000/v1".into())).unwrap();
    for (what, up) in [("refused", refused), ("dns", unresolvable)] {
        let err = post_err(&up).await;
        assert_eq!(err.reached, Reached::NotSent, "{what}: {err}");
        assert_eq!(err.status(), 502, "{what}");
        assert!(err.may_resend(), "{what}");
    }

    // A listener that never accepts, with its backlog filled: further SYNs go unanswered.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let connect = tokio::net::TcpStream::connect(addr);
        if let Ok(Ok(stream)) = tokio::time::timeout(Duration::from_millis(100), connect).await {
            fillers.push(stream);
        }
    }
    let err = post_err(&upstream(addr)).await;
    assert_eq!(
        (err.kind, err.reached),
        (ErrorKind::BackendTimeout, Reached::NotSent),
        "{err}"
    );
    assert!(err.message.contains("connecting"), "{err}");
    drop(listener);
}

#[tokio::test]
async fn an_untrusted_certificate_is_not_sent_a_ca_file_makes_it_trusted() {
    let pki = Pki::new();
    let acceptor = pki.acceptor(&[b"http/1.1"], false);
    let server = RawServer::start(move |socket, _, counts| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(socket).await else {
                return;
            };
            if read_request(&mut tls, &counts).await.is_some() {
                answer_json(&mut tls, 200, "{\"ok\":true}").await;
            }
        }
    })
    .await;
    let url = format!("https://localhost:{}/v1", server.addr.port());
    let err = post_err(&Upstream::new(&config(url.clone())).unwrap()).await;
    assert_eq!(
        (err.status(), err.reached),
        (502, Reached::NotSent),
        "{err}"
    );
    assert_eq!(server.counts.requests(), 0);

    let trusting = Upstream::new(&HttpConfig {
        ca_file: Some(pki.ca_file.clone()),
        ..config(url)
    })
    .unwrap();
    let call = post(&trusting, Answer::Streamed).await.unwrap();
    assert_eq!(trusting.read_json(call, 1024).await.unwrap()["ok"], true);
}

#[tokio::test]
async fn a_client_certificate_is_shown_to_an_upstream_that_requires_one() {
    let pki = Pki::new();
    let acceptor = pki.acceptor(&[b"http/1.1"], true);
    let server = RawServer::start(move |socket, _, counts| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(socket).await else {
                return;
            };
            if read_request(&mut tls, &counts).await.is_some() {
                answer_json(&mut tls, 200, "{\"ok\":true}").await;
            }
        }
    })
    .await;
    let url = format!("https://127.0.0.1:{}/v1", server.addr.port());
    let without = Upstream::new(&HttpConfig {
        ca_file: Some(pki.ca_file.clone()),
        ..config(url.clone())
    })
    .unwrap();
    let err = post_err(&without).await;
    assert_eq!(
        (err.status(), err.reached),
        (502, Reached::NotSent),
        "{err}"
    );
    assert!(err.message.contains("refused the TLS session"), "{err}");
    assert_eq!(
        server.counts.requests(),
        0,
        "the upstream refused the session"
    );

    let with = Upstream::new(&HttpConfig {
        ca_file: Some(pki.ca_file.clone()),
        client_cert: Some(pki.client_cert.clone()),
        client_key: Some(pki.client_key.clone()),
        ..config(url)
    })
    .unwrap();
    let call = post(&with, Answer::Streamed).await.unwrap();
    assert_eq!(with.read_json(call, 1024).await.unwrap()["ok"], true);
    assert_eq!(server.counts.requests(), 1);
}

#[test]
fn tls_files_that_do_not_fit_are_refused_when_the_client_is_built() {
    let pki = Pki::new();
    let base = config("https://127.0.0.1:1/v1".into());
    let cases = [
        HttpConfig {
            ca_file: Some("/no/such/file.pem".into()),
            ..base.clone()
        },
        HttpConfig {
            ca_file: Some(pki.client_key.clone()),
            ..base.clone()
        },
        HttpConfig {
            client_cert: Some(pki.client_cert.clone()),
            ..base.clone()
        },
        HttpConfig {
            client_cert: Some(pki.client_cert.clone()),
            client_key: Some(pki.ca_file.clone()),
            ..base.clone()
        },
    ];
    for case in cases {
        let err = Upstream::new(&case).err();
        assert!(err.is_some(), "{case:?}");
    }
}

#[tokio::test]
async fn http2_is_used_when_the_upstream_offers_it() {
    use hyper::server::conn::http2;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let pki = Pki::new();
    // An upstream that speaks HTTP/2 only: the handshake fails unless the client offers h2.
    let acceptor = pki.acceptor(&[b"h2"], false);
    let server = RawServer::start(move |socket, _, counts| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(tls) = acceptor.accept(socket).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let counts = counts.clone();
                async move {
                    counts.requests.fetch_add(1, Ordering::SeqCst);
                    let body = format!("{{\"version\":\"{:?}\"}}", req.version());
                    Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(
                        body,
                    ))))
                }
            });
            let _ = http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        }
    })
    .await;
    let up = Upstream::new(&HttpConfig {
        ca_file: Some(pki.ca_file.clone()),
        ..config(format!("https://localhost:{}/v1", server.addr.port()))
    })
    .unwrap();
    for _ in 0..3 {
        let call = post(&up, Answer::Streamed).await.unwrap();
        assert_eq!(
            up.read_json(call, 1024).await.unwrap()["version"],
            "HTTP/2.0"
        );
    }
    assert_eq!(server.counts.requests(), 3);
    assert_eq!(server.counts.connections(), 1, "one multiplexed connection");
}

#[tokio::test]
async fn statuses_429_and_503_are_declined_others_answered() {
    for (status, reached) in [
        (429, Reached::Declined),
        (503, Reached::Declined),
        (500, Reached::Answered),
        (400, Reached::Answered),
    ] {
        let server = RawServer::start(move |mut socket, _, counts| async move {
            if read_request(&mut socket, &counts).await.is_some() {
                answer_json(&mut socket, status, "{\"error\":\"busy\"}").await;
            }
        })
        .await;
        let err = post_err(&upstream(server.addr)).await;
        assert_eq!((err.upstream_status, err.reached), (Some(status), reached));
    }
}

#[tokio::test]
async fn failures_after_the_response_head_are_answered() {
    // A body that stops short of its length; then a head that is not HTTP.
    let server = RawServer::start(|mut socket, n, counts| async move {
        if read_request(&mut socket, &counts).await.is_none() {
            return;
        }
        let reply: &[u8] = if n == 0 {
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 1000\r\n\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n"
        } else {
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n"
        };
        let _ = socket.write_all(reply).await;
    })
    .await;
    let backend = OpenAiBackend::new(config(format!("http://{}/v1", server.addr))).unwrap();
    let stream = backend.generate(chat(true), &ctx()).await.unwrap();
    let (events, err) = crate::test_server::drain(stream).await;
    assert_eq!(events.len(), 1);
    let err = err.unwrap();
    assert_eq!(
        (err.status(), err.reached),
        (502, Reached::Answered),
        "{err}"
    );
    let err = backend.generate(chat(true), &ctx()).await.err().unwrap();
    assert_eq!(err.message, error::MALFORMED);
    assert_eq!(err.reached, Reached::Answered, "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_head_that_never_comes_fails_at_the_head_timeout_not_the_request_timeout() {
    let server = RawServer::start(|mut socket, _, counts| async move {
        if read_request(&mut socket, &counts).await.is_some() {
            wait_for_close(&mut socket, &counts).await;
        }
    })
    .await;
    let up = Upstream::new(&HttpConfig {
        head_timeout: Duration::from_secs(120),
        request_timeout: Duration::from_secs(600),
        connect_timeout: Duration::from_secs(5),
        ..config(format!("http://{}/v1", server.addr))
    })
    .unwrap();
    let started = Instant::now();
    let err = post_err(&up).await;
    let waited = started.elapsed();
    assert!(
        (Duration::from_secs(120)..Duration::from_secs(121)).contains(&waited),
        "{waited:?}"
    );
    assert_eq!(err.kind, ErrorKind::BackendTimeout, "{err}");
    assert!(err.message.contains("no response within 120s"), "{err}");
    assert_eq!(err.reached, Reached::Written);
    assert_eq!(server.counts.requests(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_whole_answer_may_come_after_the_head_timeout_within_the_request_timeout() {
    let server = RawServer::start(|mut socket, _, counts| async move {
        if read_request(&mut socket, &counts).await.is_some() {
            tokio::time::sleep(Duration::from_secs(300)).await;
            answer_json(&mut socket, 200, COMPLETION).await;
        }
    })
    .await;
    let backend = OpenAiBackend::new(HttpConfig {
        head_timeout: Duration::from_secs(120),
        request_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(600),
        connect_timeout: Duration::from_secs(5),
        ..config(format!("http://{}/v1", server.addr))
    })
    .unwrap();
    let started = Instant::now();
    let stream = backend.generate(chat(false), &ctx()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(300));
    let (_, err) = crate::test_server::drain(stream).await;
    assert!(err.is_none(), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_comes_is_cut_at_the_idle_timeout() {
    let server = RawServer::start(|mut socket, _, counts| async move {
        if read_request(&mut socket, &counts).await.is_some() {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            wait_for_close(&mut socket, &counts).await;
        }
    })
    .await;
    let up = Upstream::new(&HttpConfig {
        idle_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(600),
        connect_timeout: Duration::from_secs(5),
        ..config(format!("http://{}/v1", server.addr))
    })
    .unwrap();
    let call = post(&up, Answer::Streamed).await.unwrap();
    let started = Instant::now();
    let mut reader = pump::BodyReader::new(call.response, &up, Some(call.deadline));
    let err = reader.chunk().await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    assert_eq!(
        (err.kind, err.reached),
        (ErrorKind::BackendTimeout, Reached::Answered)
    );
    assert!(err.message.contains("sent nothing for 60s"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn idle_connections_are_reused_then_closed_on_a_timer() {
    let server = RawServer::start(|mut socket, _, counts| async move {
        while read_request(&mut socket, &counts).await.is_some() {
            answer_json(&mut socket, 200, "{}").await;
        }
        counts.closed_by_client.fetch_add(1, Ordering::SeqCst);
    })
    .await;
    let up = Upstream::new(&HttpConfig {
        connect_timeout: Duration::from_secs(5),
        ..config(format!("http://{}/v1", server.addr))
    })
    .unwrap();
    for _ in 0..3 {
        let call = post(&up, Answer::Streamed).await.unwrap();
        up.read_json(call, 1024).await.unwrap();
    }
    assert_eq!(server.counts.connections(), 1, "keep-alive reuse");
    // Nothing else happens on this upstream: the pool's own timer closes the connection.
    tokio::time::sleep(client::IDLE_TIMEOUT - Duration::from_secs(5)).await;
    assert_eq!(server.counts.closed_by_client(), 0);
    tokio::time::sleep(Duration::from_secs(100)).await;
    for _ in 0..100 {
        if server.counts.closed_by_client() == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        server.counts.closed_by_client(),
        1,
        "idle connection not reaped"
    );
}

#[tokio::test]
async fn a_stream_done_before_its_last_chunk_leaves_its_connection_for_the_next_call() {
    let server = RawServer::start(|mut socket, _, counts| async move {
        while read_request(&mut socket, &counts).await.is_some() {
            let events = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{events}\r\n",
                events.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            // The terminating chunk comes a moment after `[DONE]`, as from uvicorn.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let _ = socket.write_all(b"0\r\n\r\n").await;
        }
    })
    .await;
    let backend = OpenAiBackend::new(config(format!("http://{}/v1", server.addr))).unwrap();
    for _ in 0..3 {
        let mut stream = backend.generate(chat(true), &ctx()).await.unwrap();
        // Read up to Done and drop the stream there, as the gateway does.
        while let Some(item) = futures::StreamExt::next(&mut stream).await {
            if matches!(item, Ok(devassist_core::Event::Done { .. })) {
                break;
            }
        }
        drop(stream);
    }
    assert_eq!(server.counts.requests(), 3);
    assert_eq!(server.counts.connections(), 1);
}

#[tokio::test]
async fn what_goes_on_the_wire() {
    let server = RawServer::start(|mut socket, _, counts| async move {
        while let Some(req) = read_request(&mut socket, &counts).await {
            let seen = json!({
                "line": req.request_line(),
                "host": req.header("host"),
                "accept": req.header("accept"),
                "authorization": req.header("authorization"),
                "length": req.header("content-length"),
                "type": req.header("content-type"),
                "id": req.header("x-request-id"),
                "tenant": req.header("x-tenant"),
            });
            answer_json(&mut socket, 200, &seen.to_string()).await;
        }
    })
    .await;
    let port = server.addr.port();
    let up = Upstream::new(&HttpConfig {
        base_url: format!("http://user:p%40ss@127.0.0.1:{port}/v1/?api-version=2"),
        api_key: None,
        extra_headers: [("x-tenant", "a"), ("accept", "text/event-stream")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into(),
        ..config(String::new())
    })
    .unwrap();
    let call = post(&up, Answer::Streamed).await.unwrap();
    let seen = up.read_json(call, 4096).await.unwrap();
    assert_eq!(
        seen["line"],
        "POST /v1/chat/completions?api-version=2 HTTP/1.1"
    );
    assert_eq!(seen["host"], format!("127.0.0.1:{port}"));
    assert_eq!(seen["accept"], "text/event-stream");
    assert_eq!(seen["authorization"], "Basic dXNlcjpwQHNz");
    assert_eq!(seen["length"], "13");
    assert_eq!(seen["type"], "application/json");
    assert_eq!(seen["id"], "req-transport");
    assert_eq!(seen["tenant"], "a");
}

#[tokio::test]
async fn an_upstream_echoing_the_api_key_in_its_error_leaks_it_nowhere() {
    // Regression: upstream error bodies went to clients and logs nearly verbatim.
    let server = RawServer::start(|mut socket, n, counts| async move {
        let Some(req) = read_request(&mut socket, &counts).await else {
            return;
        };
        let auth = req.header("authorization").unwrap_or_default().to_owned();
        let body = if n % 2 == 0 {
            format!("Internal error\nrequest headers:\n  Authorization: {auth}\n")
        } else {
            json!({"error": {"message": format!("invalid key {auth} for this model")}}).to_string()
        };
        answer_json(&mut socket, 500, &body).await;
    })
    .await;
    for key in [KEY, "plain-looking-secret"] {
        for _ in 0..2 {
            let backend = OpenAiBackend::new(HttpConfig {
                api_key: Some(key.into()),
                ..config(format!("http://{}/v1", server.addr))
            })
            .unwrap();
            let err = backend.generate(chat(true), &ctx()).await.err().unwrap();
            assert_eq!(err.upstream_status, Some(500));
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(key), "{key} leaked: {shown}");
            assert!(!shown.contains("0123456789abcdef"), "{shown}");
            assert!(!err.message.contains('\n'), "{}", err.message);
            assert!(err.message.contains("[redacted]"), "{}", err.message);
        }
    }
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_not_used_again() {
    // Each connection answers one request and is then closed by the upstream, as a server
    // closes an idle keep-alive connection (uvicorn after 5 s).
    let server = RawServer::start(|mut socket, _, counts| async move {
        if read_request(&mut socket, &counts).await.is_some() {
            answer_json(&mut socket, 200, "{}").await;
        }
    })
    .await;
    let up = upstream(server.addr);
    for round in 1..=3 {
        let call = post(&up, Answer::Whole).await.unwrap();
        up.read_json(call, 1024).await.unwrap();
        // The upstream's close has arrived before the next call.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(server.counts.requests(), round);
        assert_eq!(
            server.counts.connections(),
            round,
            "a closed socket was reused"
        );
    }
}

#[tokio::test]
async fn responses_that_end_their_connection_leave_nothing_in_the_pool() {
    // Round 0: `Connection: close`; round 1: HTTP/1.0; round 2: a body that ends with the
    // connection (no length, not chunked). The upstream keeps reading after each, so a reuse
    // would be answered by no one: every call must take a new connection.
    let server = RawServer::start(|mut socket, n, counts| async move {
        if read_request(&mut socket, &counts).await.is_none() {
            return;
        }
        let response = match n {
            0 => format!(
                "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{COMPLETION}",
                COMPLETION.len()
            ),
            1 => format!(
                "HTTP/1.0 200 OK\r\ncontent-length: {}\r\n\r\n{COMPLETION}",
                COMPLETION.len()
            ),
            _ => format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{COMPLETION}"),
        };
        let _ = socket.write_all(response.as_bytes()).await;
        if n >= 2 {
            return; // the close ends the body
        }
        let _ = read_request(&mut socket, &counts).await;
    })
    .await;
    let up = upstream(server.addr);
    for round in 1..=3 {
        let call = post(&up, Answer::Whole).await.unwrap();
        let value = up.read_json(call, 4096).await.unwrap();
        assert_eq!(
            value["choices"][0]["message"]["content"], "hi",
            "round {round}"
        );
        assert_eq!(server.counts.connections(), round, "round {round}");
    }
    assert_eq!(server.counts.requests(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_pool_timer_drops_sockets_the_upstream_closed() {
    let server = RawServer::start(|mut socket, _, counts| async move {
        if read_request(&mut socket, &counts).await.is_some() {
            answer_json(&mut socket, 200, "{}").await;
        }
    })
    .await;
    let up = upstream(server.addr);
    let call = post(&up, Answer::Whole).await.unwrap();
    up.read_json(call, 1024).await.unwrap();
    let Transport::Plain { pool, .. } = &up.transport else {
        panic!("http:// goes through the pool");
    };
    assert_eq!(pool.idle(), 1);
    // Long before the idle timeout, the next tick finds the upstream's close.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if pool.idle() == 0 {
            break;
        }
    }
    assert_eq!(pool.idle(), 0, "a closed socket stayed in the pool");
}
