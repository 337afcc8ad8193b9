//! Upstreams reached through a real forward proxy, Debian's `tinyproxy`, started for each
//! test on a free port with its own config: absolute-form requests for `http` upstreams,
//! CONNECT tunnels for `https` ones (with a CA bundle, and with a client certificate),
//! `Proxy-Authorization`, the environment's rules with `NO_PROXY`, and a proxy that refuses.
//!
//! Without tinyproxy these tests say SKIPPED and pass, unless `DEVASSIST_REQUIRE_TOOLS` is
//! set (`make test` sets it): there a skipped test would pass without having checked
//! anything. `scripts/setup.sh` installs it.

use super::test_raw::{RawServer, answer_json, read_request};
use super::test_tls::Pki;
use super::*;
use serde_json::json;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

const USER: &str = "gateway";
const PASSWORD: &str = "proxy-pass-1234";

/// A running tinyproxy, killed on drop.
struct Tinyproxy {
    child: tokio::process::Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// What the proxy is set up to allow.
#[derive(Default)]
struct Rules {
    /// Ports CONNECT may reach; empty: any.
    connect_ports: Vec<u16>,
    /// Require `Proxy-Authorization` with `USER` and `PASSWORD`.
    basic_auth: bool,
}

impl Tinyproxy {
    /// Starts tinyproxy on a random free port; `None` (after saying so) when it is not
    /// installed and not required.
    async fn start(rules: Rules) -> Option<Tinyproxy> {
        let installed = std::process::Command::new("tinyproxy")
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !installed {
            let hint = "tinyproxy is not installed: scripts/setup.sh installs it";
            assert!(
                std::env::var_os("DEVASSIST_REQUIRE_TOOLS").is_none(),
                "{hint} (DEVASSIST_REQUIRE_TOOLS is set)"
            );
            eprintln!("SKIPPED: {hint}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let hasher = RandomState::new();
        // A port taken by something else makes tinyproxy exit: another one is tried.
        for attempt in 0u64..10 {
            let port = 20_000 + (hasher.hash_one(attempt) % 12_000) as u16;
            let log = dir.path().join(format!("tinyproxy-{attempt}.log"));
            let mut config = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 50\n\
                 LogLevel Info\nLogFile \"{}\"\n",
                log.display()
            );
            // Without any ConnectPort line tinyproxy allows every port.
            for p in &rules.connect_ports {
                config.push_str(&format!("ConnectPort {p}\n"));
            }
            if rules.basic_auth {
                config.push_str(&format!("BasicAuth {USER} {PASSWORD}\n"));
            }
            let path = dir.path().join(format!("tinyproxy-{attempt}.conf"));
            std::fs::write(&path, config).unwrap();
            let mut child = tokio::process::Command::new("tinyproxy")
                .arg("-d")
                .arg("-c")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let started = Instant::now();
            loop {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if text.contains("Starting main loop") {
                    return Some(Tinyproxy {
                        child,
                        port,
                        log,
                        _dir: dir,
                    });
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "tinyproxy did not start: {text}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        panic!("tinyproxy could not get a port in 10 tries");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn url_with_credentials(&self) -> String {
        format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// An `http` upstream that answers with what it saw: the request line and the `via` and
/// `proxy-authorization` headers.
async fn echo_upstream() -> RawServer {
    RawServer::start(|mut socket, _, counts| async move {
        while let Some(req) = read_request(&mut socket, &counts).await {
            let seen = json!({
                "line": req.request_line(),
                "via": req.header("via"),
                "proxy_authorization": req.header("proxy-authorization"),
            });
            answer_json(&mut socket, 200, &seen.to_string()).await;
        }
    })
    .await
}

/// An `https` upstream (certificate from `pki`) answering `{"ok":true}`.
async fn tls_upstream(pki: &Pki, client_auth: bool) -> RawServer {
    let acceptor = pki.acceptor(&[b"http/1.1"], client_auth);
    RawServer::start(move |socket, _, counts| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(socket).await else {
                return;
            };
            while read_request(&mut tls, &counts).await.is_some() {
                answer_json(&mut tls, 200, "{\"ok\":true}").await;
            }
        }
    })
    .await
}

fn settings(url: String, proxy: Proxy) -> HttpConfig {
    HttpConfig {
        base_url: url,
        connect_timeout: Duration::from_secs(5),
        head_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        proxy,
        ..HttpConfig::default()
    }
}

async fn get_json(up: &Upstream) -> Result<serde_json::Value, GatewayError> {
    let call = up
        .send_checked(
            Method::POST,
            "/chat/completions",
            Body::Json(json!({})),
            Answer::Streamed,
            &CallContext::new("req-proxy"),
        )
        .await?;
    up.read_json(call, 4096).await
}

fn http_url(addr: SocketAddr) -> String {
    format!("http://{addr}/v1")
}

fn https_url(addr: SocketAddr) -> String {
    format!("https://localhost:{}/v1", addr.port())
}

#[tokio::test]
async fn an_http_upstream_through_the_proxy() {
    let Some(proxy) = Tinyproxy::start(Rules::default()).await else {
        return;
    };
    let upstream = echo_upstream().await;
    let up = Upstream::new(&settings(http_url(upstream.addr), Proxy::Url(proxy.url()))).unwrap();
    for _ in 0..2 {
        let seen = get_json(&up).await.unwrap();
        assert!(
            seen["via"]
                .as_str()
                .unwrap_or_default()
                .contains("tinyproxy"),
            "{seen}"
        );
        assert_eq!(seen["line"], "POST /v1/chat/completions HTTP/1.1");
    }
    // hyper sent the absolute form to the proxy.
    let log = proxy.log();
    let absolute = format!("POST http://{}/v1/chat/completions", upstream.addr);
    assert!(log.contains(&absolute), "{log}");
}

#[tokio::test]
async fn proxy_credentials_go_in_proxy_authorization() {
    let rules = || Rules {
        basic_auth: true,
        ..Rules::default()
    };
    let Some(proxy) = Tinyproxy::start(rules()).await else {
        return;
    };
    let upstream = echo_upstream().await;
    let without =
        Upstream::new(&settings(http_url(upstream.addr), Proxy::Url(proxy.url()))).unwrap();
    let err = get_json(&without).await.unwrap_err();
    assert_eq!(err.upstream_status, Some(407), "{err}");

    let with = Upstream::new(&settings(
        http_url(upstream.addr),
        Proxy::Url(proxy.url_with_credentials()),
    ))
    .unwrap();
    let seen = get_json(&with).await.unwrap();
    assert!(seen["via"].as_str().is_some(), "{seen}");
    // The proxy takes the header for itself; the upstream never sees it.
    assert!(seen["proxy_authorization"].is_null(), "{seen}");

    // Through a tunnel, the credentials go in the CONNECT request.
    let pki = Pki::new();
    let tls = tls_upstream(&pki, false).await;
    let tunnel = |proxy_url: String| {
        Upstream::new(&HttpConfig {
            ca_file: Some(pki.ca_file.clone()),
            ..settings(https_url(tls.addr), Proxy::Url(proxy_url))
        })
        .unwrap()
    };
    let err = get_json(&tunnel(proxy.url())).await.unwrap_err();
    assert_eq!(err.reached, Reached::NotSent, "{err}");
    assert!(err.message.contains("through the proxy"), "{err}");
    let ok = get_json(&tunnel(proxy.url_with_credentials()))
        .await
        .unwrap();
    assert_eq!(ok["ok"], true);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
}

#[tokio::test]
async fn an_https_upstream_through_a_connect_tunnel_with_its_ca_file() {
    let Some(proxy) = Tinyproxy::start(Rules::default()).await else {
        return;
    };
    let pki = Pki::new();
    let upstream = tls_upstream(&pki, false).await;
    let up = Upstream::new(&HttpConfig {
        ca_file: Some(pki.ca_file.clone()),
        ..settings(https_url(upstream.addr), Proxy::Url(proxy.url()))
    })
    .unwrap();
    assert_eq!(get_json(&up).await.unwrap()["ok"], true);
    let log = proxy.log();
    let connect = format!("CONNECT localhost:{}", upstream.addr.port());
    assert!(log.contains(&connect), "{log}");

    // The tunnel carries TLS end to end: without the CA the certificate is refused.
    let untrusting =
        Upstream::new(&settings(https_url(upstream.addr), Proxy::Url(proxy.url()))).unwrap();
    let err = get_json(&untrusting).await.unwrap_err();
    assert_eq!(
        (err.status(), err.reached),
        (502, Reached::NotSent),
        "{err}"
    );
}

#[tokio::test]
async fn mtls_through_a_connect_tunnel() {
    let Some(proxy) = Tinyproxy::start(Rules::default()).await else {
        return;
    };
    let pki = Pki::new();
    let upstream = tls_upstream(&pki, true).await;
    let base = HttpConfig {
        ca_file: Some(pki.ca_file.clone()),
        ..settings(https_url(upstream.addr), Proxy::Url(proxy.url()))
    };
    let without = Upstream::new(&base).unwrap();
    let err = get_json(&without).await.unwrap_err();
    assert_eq!(
        (err.status(), err.reached),
        (502, Reached::NotSent),
        "{err}"
    );
    assert_eq!(upstream.counts.requests(), 0);
    let with = Upstream::new(&HttpConfig {
        client_cert: Some(pki.client_cert.clone()),
        client_key: Some(pki.client_key.clone()),
        ..base
    })
    .unwrap();
    assert_eq!(get_json(&with).await.unwrap()["ok"], true);
    assert_eq!(upstream.counts.requests(), 1);
}

#[tokio::test]
async fn environment_proxies_and_no_proxy() {
    let Some(proxy) = Tinyproxy::start(Rules::default()).await else {
        return;
    };
    let upstream = echo_upstream().await;
    let pki = Pki::new();
    let tls = tls_upstream(&pki, false).await;
    let proxy_url = proxy.url();
    let via_env = |no_proxy: &'static str| {
        let proxy_url = proxy_url.clone();
        move |name: &str| match name {
            "http_proxy" | "HTTPS_PROXY" => Some(proxy_url.clone()),
            "NO_PROXY" if !no_proxy.is_empty() => Some(no_proxy.to_owned()),
            _ => None,
        }
    };
    let build = |url: String, vars: &dyn Fn(&str) -> Option<String>| {
        let env = proxy::Env {
            vars,
            loopback_direct: false,
        };
        Upstream::with_env(
            &HttpConfig {
                ca_file: Some(pki.ca_file.clone()),
                ..settings(url, Proxy::FromEnv)
            },
            env,
        )
        .unwrap()
    };

    // `http_proxy` (lower case) and `HTTPS_PROXY` are used...
    let vars = via_env("");
    let seen = get_json(&build(http_url(upstream.addr), &vars))
        .await
        .unwrap();
    assert!(seen["via"].as_str().is_some(), "{seen}");
    assert_eq!(
        get_json(&build(https_url(tls.addr), &vars)).await.unwrap()["ok"],
        true
    );
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT localhost:{}", tls.addr.port())),
        "{log}"
    );

    // ...except for hosts in `NO_PROXY`.
    let before = proxy.log().matches("Request (file descriptor").count();
    let vars = via_env("example.com, 127.0.0.1, localhost");
    let seen = get_json(&build(http_url(upstream.addr), &vars))
        .await
        .unwrap();
    assert!(seen["via"].is_null(), "{seen}");
    assert_eq!(
        get_json(&build(https_url(tls.addr), &vars)).await.unwrap()["ok"],
        true
    );
    let after = proxy.log().matches("Request (file descriptor").count();
    assert_eq!(before, after, "NO_PROXY hosts went through the proxy");

    // A configured `proxy` wins over the environment; `none` ignores it.
    let direct = Upstream::with_env(
        &settings(http_url(upstream.addr), Proxy::Direct),
        proxy::Env {
            vars: &via_env(""),
            loopback_direct: false,
        },
    )
    .unwrap();
    assert!(get_json(&direct).await.unwrap()["via"].is_null());
}

#[tokio::test]
async fn a_proxy_that_refuses_the_tunnel_is_not_sent() {
    // Only port 443 may be tunnelled to.
    let Some(proxy) = Tinyproxy::start(Rules {
        connect_ports: vec![443],
        ..Rules::default()
    })
    .await
    else {
        return;
    };
    let pki = Pki::new();
    let upstream = tls_upstream(&pki, false).await;
    let up = Upstream::new(&HttpConfig {
        ca_file: Some(pki.ca_file.clone()),
        ..settings(https_url(upstream.addr), Proxy::Url(proxy.url()))
    })
    .unwrap();
    let err = get_json(&up).await.unwrap_err();
    assert_eq!(
        (err.status(), err.reached),
        (502, Reached::NotSent),
        "{err}"
    );
    assert!(err.message.contains("through the proxy"), "{err}");
    assert!(err.may_resend());
    assert_eq!(upstream.counts.connections(), 0);
}
