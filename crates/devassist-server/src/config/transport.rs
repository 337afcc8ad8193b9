//! How a `[[backends]]` entry is reached over the network beyond its URL: the response-head
//! timeout, a forward proxy, extra trusted CAs and a client certificate (mTLS).

use super::secret;
use super::validate::duration;
use devassist_backends::Proxy;
use std::path::PathBuf;
use std::time::Duration;

/// The `[[backends]]` keys this module reads, as written.
#[derive(Debug, Default)]
pub struct RawTransport<'a> {
    pub head_timeout: Option<&'a str>,
    pub proxy: Option<&'a str>,
    pub ca_file: Option<&'a str>,
    pub client_cert: Option<&'a str>,
    pub client_key: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportSettings {
    /// Longest wait for the response head after the request is sent.
    pub head_timeout: Duration,
    pub proxy: Proxy,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            head_timeout: Duration::from_secs(120),
            proxy: Proxy::FromEnv,
            ca_file: None,
            client_cert: None,
            client_key: None,
        }
    }
}

/// Validates the keys of backend `at("")`, reporting problems through `p`.
pub fn validate(
    raw: &RawTransport<'_>,
    at: &dyn Fn(&str) -> String,
    env: &dyn Fn(&str) -> Option<String>,
    p: &mut impl FnMut(String, String),
) -> TransportSettings {
    let mut out = TransportSettings {
        head_timeout: duration(
            raw.head_timeout,
            &at("head_timeout"),
            TransportSettings::default().head_timeout,
            p,
        ),
        ..TransportSettings::default()
    };
    if let Some(value) = raw.proxy {
        out.proxy = proxy(value, env).unwrap_or_else(|e| {
            p(at("proxy"), e);
            Proxy::FromEnv
        });
    }
    let mut file = |key: &str, value: Option<&str>| {
        let path = PathBuf::from(value?);
        if let Err(e) = std::fs::metadata(&path) {
            p(at(key), format!("cannot read {}: {e}", path.display()));
        }
        Some(path)
    };
    out.ca_file = file("ca_file", raw.ca_file);
    out.client_cert = file("client_cert", raw.client_cert);
    out.client_key = file("client_key", raw.client_key);
    match (&out.client_cert, &out.client_key) {
        (Some(_), None) => p(at("client_key"), "is required with `client_cert`".into()),
        (None, Some(_)) => p(at("client_cert"), "is required with `client_key`".into()),
        _ => {}
    }
    out
}

/// `none`, a proxy URL, or a secret reference (`env:NAME`, `file:PATH`) holding one, for a
/// URL with a password in it.
fn proxy(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Proxy, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("none") {
        return Ok(Proxy::Direct);
    }
    let url = if value.starts_with("env:") || value.starts_with("file:") {
        secret::resolve(value, env)?.expose().trim().to_owned()
    } else {
        value.to_owned()
    };
    let parsed = url::Url::parse(&url).map_err(|e| format!("is not a URL: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "must be an http:// proxy URL (or `none`), not {}://",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    if parsed.password().is_some() && !value.starts_with("env:") && !value.starts_with("file:") {
        return Err("holds a password: give the URL as `env:NAME` or `file:PATH` instead".into());
    }
    Ok(Proxy::Url(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: RawTransport<'_>) -> (TransportSettings, Vec<(String, String)>) {
        let mut problems = Vec::new();
        let env = |n: &str| (n == "P").then(|| "http://u:secret@proxy:3128".to_owned());
        let out = validate(&raw, &|k| format!("b.{k}"), &env, &mut |path, msg| {
            problems.push((path, msg))
        });
        (out, problems)
    }

    #[test]
    fn defaults_and_every_key() {
        let (out, problems) = run(RawTransport::default());
        assert!(problems.is_empty());
        assert_eq!(out, TransportSettings::default());
        let cert = tempfile::NamedTempFile::new().unwrap();
        let path = cert.path().to_str().unwrap();
        let (out, problems) = run(RawTransport {
            head_timeout: Some("30s"),
            proxy: Some("http://proxy.corp:3128"),
            ca_file: Some(path),
            client_cert: Some(path),
            client_key: Some(path),
        });
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(out.head_timeout, Duration::from_secs(30));
        assert_eq!(out.proxy, Proxy::Url("http://proxy.corp:3128".into()));
        assert_eq!(out.ca_file.as_deref(), Some(cert.path()));
        let (out, _) = run(RawTransport {
            proxy: Some("none"),
            ..RawTransport::default()
        });
        assert_eq!(out.proxy, Proxy::Direct);
        let (out, problems) = run(RawTransport {
            proxy: Some("env:P"),
            ..RawTransport::default()
        });
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(out.proxy, Proxy::Url("http://u:secret@proxy:3128".into()));
    }

    #[test]
    fn bad_values_name_their_key() {
        let (_, problems) = run(RawTransport {
            head_timeout: Some("soon"),
            proxy: Some("socks5://p:1"),
            ca_file: Some("/no/such/ca.pem"),
            client_cert: Some("/no/such/cert.pem"),
            client_key: None,
        });
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "b.head_timeout",
                "b.proxy",
                "b.ca_file",
                "b.client_cert",
                "b.client_key"
            ]
        );
        let (_, problems) = run(RawTransport {
            proxy: Some("http://u:inline@p:1"),
            ..RawTransport::default()
        });
        assert!(problems[0].1.contains("env:NAME"), "{problems:?}");
    }
}
