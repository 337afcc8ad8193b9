//! How the pool learns that a child is ready, and on which port.
//!
//! Ports: the best case is a program that binds port 0 itself and prints its address (the
//! engine does); nothing can race it. For programs that need `--port N`, devassist picks a
//! random port, skips one that already answers, starts the child and, when the child dies
//! during start-up saying its address is in use, starts it again on another port. The
//! "already answers" check is only a filter that saves a doomed start: the retry is what
//! makes the choice safe, because another program can take the port between the check and
//! the child's own bind. Probing a port, closing it and handing it over (probe-then-bind)
//! is never used.
//!
//! Readiness: a line on stdout or stderr, or an HTTP probe polled until it answers 200.

use devassist_backends::Proxy;
use devassist_backends::http::GetOptions;
use std::hash::{BuildHasher, RandomState};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Where random ports are drawn from: above the usual service ports and below Linux's
/// ephemeral range (32768–60999), so outgoing connections never hold the chosen port.
const PORT_RANGE: std::ops::Range<u16> = 20_000..32_768;

/// Start attempts on different ports before giving up.
pub const PORT_ATTEMPTS: usize = 5;

/// Text that programs print when their port is taken (Rust, Go, Python, C, Node).
const ADDRESS_IN_USE: &[&str] = &[
    "address already in use",
    "address in use",
    "eaddrinuse",
    "errno 98",
    "os error 98",
    "couldn't bind",
    "could not bind",
    "failed to bind",
];

/// Whether a child's last lines say it could not bind its port.
pub fn address_in_use(tail: &super::output::LogTail) -> bool {
    tail.contains_any(ADDRESS_IN_USE)
}

/// Random ports, skipping ones where something already accepts connections.
pub async fn pick_port() -> u16 {
    let state = RandomState::new();
    let span = u64::from(PORT_RANGE.end - PORT_RANGE.start);
    let mut port = PORT_RANGE.start;
    for i in 0u64..20 {
        port = PORT_RANGE.start + (state.hash_one(i) % span) as u16;
        if !answers(port).await {
            break;
        }
    }
    port
}

async fn answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    matches!(
        tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(addr)
        )
        .await,
        Ok(Ok(_))
    )
}

/// Replaces `{port}` in `s`.
pub fn with_port(s: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => s.replace("{port}", &p.to_string()),
        None => s.to_string(),
    }
}

/// One probe: whether `url` answers 200 now.
pub async fn probe(client: &GetOptions, url: &str) -> bool {
    devassist_backends::http::probe(url, client).await
}

/// How readiness probes are made: short timeouts, no proxy (probes are local or in the
/// backend's own network), a small body.
pub fn probe_client() -> GetOptions {
    GetOptions {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        proxy: Proxy::Direct,
        max_body: 64 * 1024,
        api_key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn picked_ports_skip_listeners_and_vary() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let p = pick_port().await;
            assert!(PORT_RANGE.contains(&p));
            seen.insert(p);
        }
        assert!(seen.len() > 10, "ports should be random: {seen:?}");
        let held = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = held.local_addr().unwrap().port();
        assert!(answers(port).await);
    }

    #[test]
    fn address_in_use_messages_are_recognised() {
        let tail = super::super::output::LogTail::default();
        tail.push("starting".into());
        assert!(!address_in_use(&tail));
        tail.push("OSError: [Errno 98] Address already in use".into());
        assert!(address_in_use(&tail));
        let tail = super::super::output::LogTail::default();
        tail.push(
            "error: couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 8080".into(),
        );
        assert!(address_in_use(&tail));
    }
}
