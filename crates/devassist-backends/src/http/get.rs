//! One-off GETs with the same client stack as upstream calls: readiness probes of backends
//! the pool starts, and `devassist status` asking a running gateway. One HTTP client in the
//! whole program, with the same TLS roots, proxy rules and error messages.

use super::{Answer, Body, HttpConfig, Proxy, Upstream};
use devassist_core::{CallContext, GatewayError};
use http::Method;
use std::time::Duration;

/// How a one-off GET is made.
#[derive(Debug, Clone)]
pub struct GetOptions {
    pub connect_timeout: Duration,
    /// Limit on the whole GET, body included.
    pub timeout: Duration,
    pub proxy: Proxy,
    /// Largest body read.
    pub max_body: usize,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
}

impl Default for GetOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            proxy: Proxy::FromEnv,
            max_body: 16 * 1024 * 1024,
            api_key: None,
        }
    }
}

/// GETs `url`: its status and whole body, whatever the status.
pub async fn get(url: &str, options: &GetOptions) -> Result<(u16, Vec<u8>), GatewayError> {
    let upstream = Upstream::new(&HttpConfig {
        base_url: url.to_owned(),
        api_key: options.api_key.clone(),
        connect_timeout: options.connect_timeout,
        head_timeout: options.timeout,
        request_timeout: options.timeout,
        idle_timeout: options.timeout,
        proxy: options.proxy.clone(),
        ..HttpConfig::default()
    })?;
    let call = upstream
        .send(
            Method::GET,
            "",
            Body::Empty,
            Answer::Whole,
            &CallContext::new(""),
        )
        .await?;
    let status = call.response.status.as_u16();
    let body = upstream.read_body(call, options.max_body).await?;
    Ok((status, body))
}

/// GETs `url` and parses its JSON body; a status other than 2xx is an error that carries it
/// (`upstream_status`) and a summary of the body.
pub async fn get_json(url: &str, options: &GetOptions) -> Result<serde_json::Value, GatewayError> {
    let (status, body) = get(url, options).await?;
    if !(200..300).contains(&status) {
        return Err(super::error::upstream_status(status, &body, host_of(url)));
    }
    serde_json::from_slice(&body).map_err(|e| super::error::malformed(format!("invalid JSON: {e}")))
}

/// Whether `url` answers 200 now: a readiness probe.
pub async fn probe(url: &str, options: &GetOptions) -> bool {
    matches!(get(url, options).await, Ok((200, _)))
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{Reply, TestServer, refused_addr};

    #[tokio::test]
    async fn get_json_probe_and_their_failures() {
        let server = TestServer::start(vec![
            Reply::status(200, "application/json", &["{\"ok\":true}"]),
            Reply::status(200, "application/json", &["{}"]),
            Reply::status(503, "text/plain", &["starting"]),
        ])
        .await;
        let options = GetOptions::default();
        let with_key = GetOptions {
            api_key: Some("probe-key".into()),
            ..GetOptions::default()
        };
        let value = get_json(&server.url("/status"), &with_key).await.unwrap();
        assert_eq!(value["ok"], true);
        let first = &server.requests()[0];
        assert_eq!(
            (first.method.as_str(), first.path.as_str()),
            ("GET", "/status")
        );
        assert_eq!(first.header("authorization"), Some("Bearer probe-key"));
        assert!(probe(&server.url("/health"), &options).await);
        assert!(!probe(&server.url("/health"), &options).await);
        let err = get_json(&server.url("/status"), &options)
            .await
            .unwrap_err();
        assert_eq!(err.upstream_status, Some(503));
        assert_eq!(err.message, "starting");
        let refused = format!("http://{}/health", refused_addr().await);
        assert!(!probe(&refused, &options).await);
        assert!(get_json(&refused, &options).await.is_err());
    }

    #[test]
    fn hosts_are_named_without_credentials() {
        assert_eq!(host_of("http://u:p@h:1/x?y"), "h:1");
        assert_eq!(host_of("https://h/x"), "h");
    }
}
