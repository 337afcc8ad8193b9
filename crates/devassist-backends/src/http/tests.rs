//! One failure suite run against both HTTP backends: whatever the wire format, a refused,
//! hanging, garbage-speaking or dying upstream gives the same errors, and dropping a
//! stream closes the upstream connection.

use super::error::MALFORMED;
use crate::test_server::{Framing, Reply, TestServer, drain, refused_addr};
use crate::{OllamaBackend, OllamaConfig, OpenAiBackend, OpenAiConfig};
use devassist_core::{
    Backend, CallContext, ErrorKind, Event, GatewayError, GenerateRequest, Message, Prompt, Role,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const API_KEY: &str = "sk-never-show-this";

#[derive(Debug, Clone, Copy)]
enum Kind {
    OpenAi,
    Ollama,
}

const KINDS: [Kind; 2] = [Kind::OpenAi, Kind::Ollama];

#[derive(Clone, Copy)]
struct Timeouts {
    connect: Duration,
    request: Duration,
    idle: Duration,
}

const SHORT: Timeouts = Timeouts {
    connect: Duration::from_millis(300),
    request: Duration::from_secs(5),
    idle: Duration::from_millis(300),
};

impl Kind {
    fn backend(self, addr: SocketAddr, t: Timeouts) -> Box<dyn Backend> {
        match self {
            Kind::OpenAi => Box::new(
                OpenAiBackend::new(OpenAiConfig {
                    base_url: format!("http://{addr}/v1"),
                    api_key: Some(API_KEY.into()),
                    connect_timeout: t.connect,
                    request_timeout: t.request,
                    idle_timeout: t.idle,
                    extra_headers: BTreeMap::new(),
                    ..OpenAiConfig::default()
                })
                .unwrap(),
            ),
            Kind::Ollama => Box::new(
                OllamaBackend::new(OllamaConfig {
                    base_url: format!("http://{addr}"),
                    api_key: Some(API_KEY.into()),
                    connect_timeout: t.connect,
                    request_timeout: t.request,
                    idle_timeout: t.idle,
                    extra_headers: BTreeMap::new(),
                    ..OpenAiConfig::default()
                })
                .unwrap(),
            ),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Kind::OpenAi => "text/event-stream",
            Kind::Ollama => "application/x-ndjson",
        }
    }

    /// One frame carrying the text "Hel".
    fn text_frame(self) -> &'static str {
        match self {
            Kind::OpenAi => {
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
            }
            Kind::Ollama => {
                "{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}\n"
            }
        }
    }

    /// The format's own "this went wrong" frame.
    fn error_frame(self) -> &'static str {
        match self {
            Kind::OpenAi => {
                "data: {\"error\":{\"message\":\"model crashed\",\"type\":\"server_error\"}}\n\n"
            }
            Kind::Ollama => "{\"error\":\"model crashed\"}\n",
        }
    }

    /// A frame that is not JSON.
    fn garbage_frame(self) -> &'static str {
        match self {
            Kind::OpenAi => "data: <html>oops</html>\n\n",
            Kind::Ollama => "<html>oops</html>\n",
        }
    }

    fn stream(self, frames: &[&str]) -> Reply {
        Reply::ok(self.content_type(), frames)
    }
}

fn chat() -> GenerateRequest {
    GenerateRequest::new(
        "m",
        Prompt::Chat {
            messages: vec![Message::new(Role::User, "hi")],
            tools: Vec::new(),
        },
    )
}

fn ctx() -> CallContext {
    CallContext::new("req-1")
}

async fn generate_err(kind: Kind, server: &TestServer, t: Timeouts) -> GatewayError {
    match kind.backend(server.addr, t).generate(chat(), &ctx()).await {
        Ok(_) => panic!("{kind:?}: expected an error before the first event"),
        Err(err) => err,
    }
}

/// Runs a stream whose first event is "Hel" and returns the error that ends it.
async fn mid_stream_err(kind: Kind, server: &TestServer, t: Timeouts) -> GatewayError {
    let stream = kind
        .backend(server.addr, t)
        .generate(chat(), &ctx())
        .await
        .unwrap();
    let (events, err) = drain(stream).await;
    assert_eq!(events, vec![Event::Text("Hel".into())], "{kind:?}");
    err.unwrap_or_else(|| panic!("{kind:?}: expected the stream to end with an error"))
}

#[tokio::test]
async fn refused_connection_is_a_502_naming_the_host_not_the_key() {
    for kind in KINDS {
        let addr = refused_addr().await;
        let err = match kind.backend(addr, SHORT).generate(chat(), &ctx()).await {
            Ok(_) => panic!("connected to a closed port"),
            Err(err) => err,
        };
        assert_eq!(err.kind, ErrorKind::BackendError, "{kind:?}: {err}");
        assert_eq!(err.status(), 502);
        assert!(err.message.contains(&addr.to_string()), "{}", err.message);
        assert!(!err.to_string().contains(API_KEY));
    }
}

#[tokio::test]
async fn credentials_in_the_url_never_reach_the_error() {
    let addr = refused_addr().await;
    let backend = OpenAiBackend::new(OpenAiConfig {
        base_url: format!("http://admin:hunter2@{addr}/v1"),
        ..OpenAiConfig::default()
    })
    .unwrap();
    let err = backend.generate(chat(), &ctx()).await.err().unwrap();
    assert!(
        err.detail
            .as_deref()
            .unwrap_or_default()
            .contains("refused"),
        "{err}"
    );
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn headers_devassist_sets_itself_cannot_be_configured() {
    for name in ["Content-Length", "transfer-encoding", "Connection"] {
        let config = OpenAiConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            extra_headers: BTreeMap::from([(name.to_owned(), "1".to_owned())]),
            ..OpenAiConfig::default()
        };
        let err = OpenAiBackend::new(config).err().unwrap();
        assert!(
            err.message.contains("cannot be configured"),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn unresolvable_host_is_a_502() {
    for kind in KINDS {
        let t = SHORT;
        let backend: Box<dyn Backend> = match kind {
            Kind::OpenAi => Box::new(
                OpenAiBackend::new(OpenAiConfig {
                    base_url: "http://no-such-host.invalid:8000/v1".into(),
                    connect_timeout: t.connect,
                    ..OpenAiConfig::default()
                })
                .unwrap(),
            ),
            Kind::Ollama => Box::new(
                OllamaBackend::new(OllamaConfig {
                    base_url: "http://no-such-host.invalid:11434".into(),
                    connect_timeout: t.connect,
                    ..OllamaConfig::default()
                })
                .unwrap(),
            ),
        };
        let err = backend.generate(chat(), &ctx()).await.err().unwrap();
        assert_eq!(err.kind, ErrorKind::BackendError, "{kind:?}: {err}");
        assert_eq!(err.status(), 502);
        assert!(
            err.message.contains("no-such-host.invalid"),
            "{}",
            err.message
        );
    }
}

#[tokio::test]
async fn upstream_that_never_answers_times_out_with_504_and_is_hung_up_on() {
    for kind in KINDS {
        let server = TestServer::start(vec![Reply::Hang]).await;
        let t = Timeouts {
            request: Duration::from_millis(400),
            ..SHORT
        };
        let started = Instant::now();
        let err = generate_err(kind, &server, t).await;
        assert_eq!(err.kind, ErrorKind::BackendTimeout, "{kind:?}: {err}");
        assert_eq!(err.status(), 504);
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(server.wait_disconnects(1, Duration::from_secs(2)).await);
    }
}

#[tokio::test]
async fn connect_timeout_is_a_504() {
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
    for kind in KINDS {
        let started = Instant::now();
        let err = match kind.backend(addr, SHORT).generate(chat(), &ctx()).await {
            Ok(_) => panic!("the request went through"),
            Err(err) => err,
        };
        assert_eq!(err.kind, ErrorKind::BackendTimeout, "{kind:?}: {err}");
        assert!(err.message.contains("connecting"), "{}", err.message);
        assert!(started.elapsed() < Duration::from_secs(3));
    }
    drop(listener);
}

#[tokio::test]
async fn garbage_before_the_first_event_is_a_malformed_502() {
    for kind in KINDS {
        let cases = [
            kind.stream(&[kind.garbage_frame()]),
            Reply::ok("text/html", &["<html><body>Bad gateway</body></html>"]),
            kind.stream(&["[1,2,3]\n"]).framing(Framing::UntilClose),
        ];
        for reply in cases {
            let server = TestServer::start(vec![reply.clone()]).await;
            let err = generate_err(kind, &server, SHORT).await;
            assert_eq!(
                err.kind,
                ErrorKind::BackendError,
                "{kind:?} {reply:?}: {err}"
            );
            assert_eq!(err.status(), 502);
            if !matches!(kind, Kind::OpenAi)
                || !matches!(
                    reply,
                    Reply::Respond {
                        framing: Framing::UntilClose,
                        ..
                    }
                )
            {
                assert_eq!(err.message, MALFORMED, "{kind:?} {reply:?}");
            }
        }
    }
}

#[tokio::test]
async fn empty_or_truncated_body_before_the_first_event_is_a_502() {
    for kind in KINDS {
        for reply in [
            kind.stream(&[]),
            kind.stream(&[&kind.text_frame()[..20]])
                .framing(Framing::UntilClose),
        ] {
            let server = TestServer::start(vec![reply]).await;
            let err = generate_err(kind, &server, SHORT).await;
            assert_eq!(err.kind, ErrorKind::BackendError, "{kind:?}: {err}");
        }
    }
}

#[tokio::test]
async fn garbage_after_the_first_event_is_an_error_item() {
    for kind in KINDS {
        let server = TestServer::start(vec![
            kind.stream(&[kind.text_frame(), kind.garbage_frame()]),
        ])
        .await;
        let err = mid_stream_err(kind, &server, SHORT).await;
        assert_eq!(err.message, MALFORMED, "{kind:?}");
    }
}

#[tokio::test]
async fn connection_dying_mid_stream_is_an_error_item() {
    for kind in KINDS {
        for framing in [Framing::ChunkedCut, Framing::UntilClose] {
            let reply = kind.stream(&[kind.text_frame()]).framing(framing);
            let server = TestServer::start(vec![reply]).await;
            let err = mid_stream_err(kind, &server, SHORT).await;
            assert_eq!(
                err.kind,
                ErrorKind::BackendError,
                "{kind:?} {framing:?}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn silence_mid_stream_is_an_idle_timeout_item() {
    for kind in KINDS {
        let reply = kind
            .stream(&[kind.text_frame(), kind.text_frame()])
            .paced(Duration::from_secs(30));
        let server = TestServer::start(vec![reply]).await;
        let started = Instant::now();
        let err = mid_stream_err(kind, &server, SHORT).await;
        assert_eq!(err.kind, ErrorKind::BackendTimeout, "{kind:?}: {err}");
        assert!(err.message.contains("sent nothing"), "{}", err.message);
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(server.wait_disconnects(1, Duration::from_secs(2)).await);
    }
}

#[tokio::test]
async fn request_timeout_bounds_a_stream_that_keeps_talking() {
    for kind in KINDS {
        let frames = vec![kind.text_frame(); 100];
        let reply = kind.stream(&frames).paced(Duration::from_millis(100));
        let server = TestServer::start(vec![reply]).await;
        let t = Timeouts {
            request: Duration::from_millis(500),
            ..SHORT
        };
        let stream = kind
            .backend(server.addr, t)
            .generate(chat(), &ctx())
            .await
            .unwrap();
        let (events, err) = drain(stream).await;
        assert!(
            (2..10).contains(&events.len()),
            "{kind:?}: {} events",
            events.len()
        );
        let err = err.unwrap();
        assert_eq!(err.kind, ErrorKind::BackendTimeout, "{kind:?}: {err}");
        assert!(err.message.contains("did not finish"), "{}", err.message);
    }
}

/// The idle limit is between two chunks, not on the whole body: a stream whose chunks come
/// more often than that runs longer than it and ends normally.
#[tokio::test]
async fn a_stream_that_keeps_talking_outlives_the_idle_timeout() {
    for kind in KINDS {
        let mut frames = vec![kind.text_frame(); 8];
        frames.push(match kind {
            Kind::OpenAi => "data: [DONE]\n\n",
            Kind::Ollama => {
                "{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true}\n"
            }
        });
        let reply = kind.stream(&frames).paced(Duration::from_millis(100));
        let server = TestServer::start(vec![reply]).await;
        let started = Instant::now();
        let stream = kind
            .backend(server.addr, SHORT)
            .generate(chat(), &ctx())
            .await
            .unwrap();
        let (events, err) = drain(stream).await;
        assert!(err.is_none(), "{kind:?}: {err:?}");
        let texts = events
            .iter()
            .filter(|e| matches!(e, Event::Text(_)))
            .count();
        assert_eq!(texts, 8, "{kind:?}: {events:?}");
        assert!(
            started.elapsed() > SHORT.idle * 2,
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn error_frames_before_and_after_the_first_event() {
    for kind in KINDS {
        let server = TestServer::start(vec![kind.stream(&[kind.error_frame()])]).await;
        let err = generate_err(kind, &server, SHORT).await;
        assert_eq!(
            (err.kind, err.message.as_str()),
            (ErrorKind::BackendError, "model crashed")
        );

        let server =
            TestServer::start(vec![kind.stream(&[kind.text_frame(), kind.error_frame()])]).await;
        let err = mid_stream_err(kind, &server, SHORT).await;
        assert_eq!(err.message, "model crashed", "{kind:?}");
    }
}

#[tokio::test]
async fn upstream_statuses_pass_through_with_their_messages() {
    for kind in KINDS {
        let cases: [(u16, &str, &str, &str, u16); 4] = [
            (
                400,
                "application/json",
                "{\"error\":{\"message\":\"bad temperature\",\"type\":\"invalid_request_error\"}}",
                "bad temperature",
                400,
            ),
            (
                422,
                "application/json",
                "{\"detail\":\"field required\"}",
                "field required",
                422,
            ),
            (
                404,
                "application/json",
                "{\"error\":\"model 'x' not found\"}",
                "model 'x' not found",
                404,
            ),
            (
                503,
                "text/plain",
                "upstream overloaded",
                "upstream overloaded",
                502,
            ),
        ];
        for (status, content_type, body, message, client_status) in cases {
            let server =
                TestServer::start(vec![Reply::status(status, content_type, &[body])]).await;
            let err = generate_err(kind, &server, SHORT).await;
            assert_eq!(err.upstream_status, Some(status), "{kind:?}");
            assert_eq!(err.message, message, "{kind:?}");
            assert_eq!(err.status(), client_status, "{kind:?}");
        }
    }
}

#[tokio::test]
async fn dropping_the_stream_closes_the_upstream_connection() {
    for kind in KINDS {
        let reply = kind
            .stream(&[kind.text_frame(), kind.text_frame()])
            .paced(Duration::from_secs(30));
        let server = TestServer::start(vec![reply]).await;
        let t = Timeouts {
            idle: Duration::from_secs(60),
            ..SHORT
        };
        let mut stream = kind
            .backend(server.addr, t)
            .generate(chat(), &ctx())
            .await
            .unwrap();
        let first = futures::StreamExt::next(&mut stream).await;
        assert!(matches!(first, Some(Ok(Event::Text(_)))), "{kind:?}");
        assert_eq!(server.disconnects(), 0);
        let dropped = Instant::now();
        drop(stream);
        assert!(
            server.wait_disconnects(1, Duration::from_secs(2)).await,
            "{kind:?}: the upstream never saw the connection close"
        );
        assert!(dropped.elapsed() < Duration::from_secs(1));
    }
}

#[tokio::test]
async fn dropping_a_pending_generate_closes_the_upstream_connection() {
    for kind in KINDS {
        let server = TestServer::start(vec![Reply::Hang]).await;
        let backend = kind.backend(server.addr, SHORT);
        let ctx = ctx();
        let call = backend.generate(chat(), &ctx);
        // Give up on it while the upstream is still silent, as a client disconnect would.
        assert!(
            tokio::time::timeout(Duration::from_millis(200), call)
                .await
                .is_err()
        );
        assert!(
            server.wait_disconnects(1, Duration::from_secs(2)).await,
            "{kind:?}: the upstream never saw the connection close"
        );
    }
}
