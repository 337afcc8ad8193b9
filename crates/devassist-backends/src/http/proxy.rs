//! Which way one upstream is reached: directly, through a forward proxy (absolute-form
//! requests, for `http` upstreams) or through a proxy's CONNECT tunnel (`https` upstreams).
//!
//! Decided once per upstream, when its client is built: a backend has one base URL. The
//! rules (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, upper or lower case) are
//! hyper-util's `Matcher`, the same as curl's and reqwest's; on top of them, loopback
//! upstreams never use a proxy from the environment (as in Go's net/http), so a gateway
//! started with a proxy in its environment still reaches the backends it runs itself.

use super::config::Proxy;
use http::{HeaderValue, Uri};
use hyper_util::client::proxy::matcher::Matcher;
use std::net::IpAddr;

/// How connections to the upstream are made.
#[derive(Clone, Debug)]
pub(super) enum Route {
    Direct,
    /// Connect to the proxy and send absolute-form requests (`http` upstreams).
    Forward(Via),
    /// Ask the proxy for a CONNECT tunnel, then speak TLS through it (`https` upstreams).
    Tunnel(Via),
}

/// A proxy to go through.
#[derive(Clone)]
pub(super) struct Via {
    /// `http://host:port/`, without credentials.
    pub uri: Uri,
    /// `Proxy-Authorization: Basic …` from the proxy URL's user and password.
    pub auth: Option<HeaderValue>,
    /// `host:port`, the only part messages show.
    pub shown: String,
}

impl std::fmt::Debug for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Route {
    pub fn via(&self) -> Option<&Via> {
        match self {
            Route::Direct => None,
            Route::Forward(via) | Route::Tunnel(via) => Some(via),
        }
    }
}

/// Where `Proxy::FromEnv` reads its rules.
#[derive(Clone, Copy)]
pub(crate) struct Env<'a> {
    /// The variables, through a function so that tests need not change the process's
    /// environment.
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    /// Loopback upstreams are reached directly whatever the variables say. Tests turn this
    /// off to send loopback traffic through a proxy on this machine.
    pub loopback_direct: bool,
}

impl Env<'static> {
    /// The process's own environment.
    pub fn process() -> Env<'static> {
        Env {
            vars: &|name| std::env::var(name).ok(),
            loopback_direct: true,
        }
    }
}

/// The route to `target` (an `http` or `https` URI with a host) under `proxy`.
pub(super) fn route(target: &Uri, proxy: &Proxy, env: Env<'_>) -> Result<Route, String> {
    let matcher = match proxy {
        Proxy::Direct => return Ok(Route::Direct),
        Proxy::Url(url) => {
            check_proxy_url(url)?;
            Matcher::builder().all(url.clone()).build()
        }
        Proxy::FromEnv => {
            if env.loopback_direct && target.host().is_some_and(is_loopback) {
                return Ok(Route::Direct);
            }
            from_env(env.vars)
        }
    };
    let Some(intercept) = matcher.intercept(target) else {
        return Ok(Route::Direct);
    };
    let uri = intercept.uri().clone();
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(80);
    let shown = format!("{host}:{port}");
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "proxy {shown}: only http:// proxies are supported, not {}://",
            uri.scheme_str().unwrap_or_default()
        ));
    }
    let uri = Uri::builder()
        .scheme("http")
        .authority(shown.as_str())
        .path_and_query("/")
        .build()
        .map_err(|e| format!("proxy {shown}: {e}"))?;
    let via = Via {
        uri,
        auth: intercept.basic_auth().cloned(),
        shown,
    };
    Ok(match target.scheme_str() {
        Some("https") => Route::Tunnel(via),
        _ => Route::Forward(via),
    })
}

/// The matcher for the environment's rules, read through `env` in the same order as
/// hyper-util's `Matcher::from_env`.
fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Matcher {
    let first = |names: [&str; 2]| names.iter().find_map(|n| env(n)).unwrap_or_default();
    let builder = Matcher::builder()
        .all(first(["ALL_PROXY", "all_proxy"]))
        .http(first(["HTTP_PROXY", "http_proxy"]))
        .https(first(["HTTPS_PROXY", "https_proxy"]))
        .no(first(["NO_PROXY", "no_proxy"]));
    if env("REQUEST_METHOD").is_some() {
        // Under CGI, `HTTP_PROXY` may come from a request's `Proxy:` header (httpoxy).
        return Matcher::builder().build();
    }
    builder.build()
}

/// A configured proxy URL must be one the matcher takes: otherwise it would be ignored
/// without a word.
fn check_proxy_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("proxy URL is invalid: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "proxy URL must be http://host:port, not {}://",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("proxy URL has no host".into());
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> Env<'static> {
        let lookup = move |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        Env {
            vars: Box::leak(Box::new(lookup)),
            loopback_direct: true,
        }
    }

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn env_rules_pick_forward_tunnel_or_direct() {
        let env = env_of(&[
            ("HTTP_PROXY", "http://proxy:3128"),
            ("https_proxy", "http://user:pa%20ss@tls-proxy:3129"),
            ("NO_PROXY", "internal.example, 10.0.0.0/8"),
        ]);
        let route = |u: &str| route(&uri(u), &Proxy::FromEnv, env).unwrap();
        assert!(
            matches!(route("http://gpu:8000/v1"), Route::Forward(v) if v.shown == "proxy:3128" && v.auth.is_none())
        );
        let Route::Tunnel(via) = route("https://api.example.com/v1") else {
            panic!("https goes through a tunnel")
        };
        assert_eq!(via.shown, "tls-proxy:3129");
        assert_eq!(
            via.auth.as_ref().unwrap().to_str().unwrap(),
            "Basic dXNlcjpwYSBzcw=="
        );
        assert!(!format!("{via:?}").contains("pa"));
        for direct in [
            "http://a.internal.example/v1",
            "http://10.1.2.3:8000/v1",
            "http://127.0.0.1:8000/v1",
            "http://localhost:11434",
            "http://[::1]:8000",
        ] {
            assert!(matches!(route(direct), Route::Direct), "{direct}");
        }
    }

    #[test]
    fn a_configured_proxy_overrides_the_environment_and_loopback() {
        let env = env_of(&[("HTTP_PROXY", "http://env-proxy:1"), ("NO_PROXY", "*")]);
        let proxy = Proxy::Url("http://mine:8080".into());
        let r = route(&uri("http://127.0.0.1:9/v1"), &proxy, env).unwrap();
        assert!(matches!(r, Route::Forward(v) if v.shown == "mine:8080"));
        let r = route(&uri("http://gpu:9/v1"), &Proxy::Direct, env).unwrap();
        assert!(matches!(r, Route::Direct));
    }

    #[test]
    fn unusable_proxies_are_refused_not_ignored() {
        let none = env_of(&[]);
        for bad in ["socks5://p:1", "https://p:1", "not a url", "http://"] {
            let proxy = Proxy::Url(bad.into());
            assert!(route(&uri("http://gpu:1/"), &proxy, none).is_err(), "{bad}");
        }
        let env = env_of(&[("HTTPS_PROXY", "socks5://p:1")]);
        assert!(route(&uri("https://gpu:1/"), &Proxy::FromEnv, env).is_err());
    }

    #[test]
    fn cgi_environments_ignore_http_proxy() {
        let env = env_of(&[("HTTP_PROXY", "http://evil:1"), ("REQUEST_METHOD", "GET")]);
        let r = route(&uri("http://gpu:1/"), &Proxy::FromEnv, env).unwrap();
        assert!(matches!(r, Route::Direct));
    }
}
