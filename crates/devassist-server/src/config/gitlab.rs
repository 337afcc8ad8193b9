//! `[gitlab]`: settings of the GitLab AI Gateway surface, above all the allow-list of model
//! endpoints a GitLab request may name in `model_endpoint`.
//!
//! GitLab self-managed sends the URL of the self-hosted model with every request. The
//! gateway calls such a URL only when the admin listed it here; any other request is served
//! by the model configured for its feature, so a client can never make the gateway call an
//! arbitrary URL.

use serde::Deserialize;
use std::time::Duration;

/// The `[gitlab]` table.
#[derive(Debug, Default, Deserialize)]
pub struct RawGitLab {
    /// OpenAI-compatible base URLs (`http://llm.internal:8000/v1`) that a request's
    /// `model_endpoint` may name. Compared after normalising scheme, host, port and trailing
    /// slash. Default: none, so every request goes to the model configured for its feature.
    #[serde(default)]
    pub allowed_endpoints: Vec<String>,
    /// Context window assumed for models reached through `model_endpoint`, in tokens; prompts
    /// are trimmed to fit it. Default 8192.
    pub endpoint_context_length: Option<u32>,
    /// Time allowed to connect to an allow-listed endpoint. Default `5s`.
    pub endpoint_connect_timeout: Option<String>,
    /// Time allowed for a whole call to an allow-listed endpoint. Default `60s` (GitLab's
    /// own limit for self-hosted models).
    pub endpoint_timeout: Option<String>,
    /// Requests sent to one allow-listed endpoint at the same time; more wait in its queue.
    /// Each endpoint is a pool slot named `gitlab:<url>` in `/status`. Default: no limit.
    pub endpoint_max_concurrent: Option<u32>,
    /// Requests that may wait for one allow-listed endpoint; beyond it they get 503.
    /// Default: no limit.
    pub endpoint_max_queue: Option<u32>,
}

/// Validated `[gitlab]` settings.
#[derive(Debug, Clone)]
pub struct GitLabSettings {
    pub allowed_endpoints: Vec<AllowedEndpoint>,
    pub endpoint_context_length: u32,
    pub endpoint_connect_timeout: Duration,
    pub endpoint_timeout: Duration,
    pub endpoint_max_concurrent: Option<u32>,
    pub endpoint_max_queue: Option<u32>,
}

impl Default for GitLabSettings {
    fn default() -> Self {
        Self {
            allowed_endpoints: Vec::new(),
            endpoint_context_length: 8192,
            endpoint_connect_timeout: Duration::from_secs(5),
            endpoint_timeout: Duration::from_secs(60),
            endpoint_max_concurrent: None,
            endpoint_max_queue: None,
        }
    }
}

/// One allow-listed endpoint: the URL the gateway calls (as the admin wrote it, without a
/// trailing slash) and the key requests are compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedEndpoint {
    pub base_url: String,
    pub key: String,
}

impl GitLabSettings {
    /// The allow-listed endpoint a request's `model_endpoint` names, if any.
    pub fn allowed(&self, requested: &str) -> Option<&AllowedEndpoint> {
        self.position(requested)
            .and_then(|i| self.allowed_endpoints.get(i))
    }

    /// Where in the allow-list the endpoint a request's `model_endpoint` names is, if any.
    pub fn position(&self, requested: &str) -> Option<usize> {
        let key = endpoint_key(requested)?;
        self.allowed_endpoints.iter().position(|e| e.key == key)
    }
}

/// The comparison key of an endpoint URL: lower-case scheme and host, explicit port, path
/// without trailing slashes. URLs with credentials, a query or a fragment have no key, so
/// they never match.
pub fn endpoint_key(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    let path = url.path().trim_end_matches('/');
    Some(format!("{}://{}:{}{}", url.scheme(), host, port, path))
}

pub fn validate(raw: RawGitLab, p: &mut impl FnMut(String, String)) -> GitLabSettings {
    let mut out = GitLabSettings::default();
    for (i, raw_url) in raw.allowed_endpoints.into_iter().enumerate() {
        let at = format!("gitlab.allowed_endpoints[{i}]");
        match endpoint_key(&raw_url) {
            Some(key) if out.allowed_endpoints.iter().any(|e| e.key == key) => {
                p(at, format!("`{raw_url}` is listed twice"));
            }
            Some(key) => out.allowed_endpoints.push(AllowedEndpoint {
                base_url: raw_url.trim().trim_end_matches('/').to_owned(),
                key,
            }),
            None => p(
                at,
                format!(
                    "`{raw_url}` must be an http or https URL without credentials, query or fragment"
                ),
            ),
        }
    }
    if raw.endpoint_max_concurrent == Some(0) {
        p(
            "gitlab.endpoint_max_concurrent".into(),
            "must be greater than 0".into(),
        );
    }
    out.endpoint_max_concurrent = raw.endpoint_max_concurrent;
    out.endpoint_max_queue = raw.endpoint_max_queue;
    if let Some(n) = raw.endpoint_context_length {
        if n == 0 {
            p(
                "gitlab.endpoint_context_length".into(),
                "must be greater than 0".into(),
            );
        }
        out.endpoint_context_length = n;
    }
    for (key, value, target) in [
        (
            "endpoint_connect_timeout",
            raw.endpoint_connect_timeout,
            &mut out.endpoint_connect_timeout,
        ),
        (
            "endpoint_timeout",
            raw.endpoint_timeout,
            &mut out.endpoint_timeout,
        ),
    ] {
        if let Some(t) = value {
            match humantime::parse_duration(&t) {
                Ok(d) => *target = d,
                Err(e) => p(
                    format!("gitlab.{key}"),
                    format!("`{t}` is not a duration like `30s`: {e}"),
                ),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_case_default_ports_and_trailing_slashes() {
        let k = |s| endpoint_key(s);
        assert_eq!(
            k("http://llm.internal:8000/v1"),
            Some("http://llm.internal:8000/v1".into())
        );
        assert_eq!(
            k("HTTP://LLM.Internal:8000/v1/"),
            k("http://llm.internal:8000/v1")
        );
        assert_eq!(
            k("https://llm.internal/v1"),
            k("https://llm.internal:443/v1")
        );
        assert_eq!(
            k("http://llm.internal/v1/../v1"),
            k("http://llm.internal:80/v1")
        );
        assert_eq!(
            k("http://llm.internal:8000"),
            k("http://llm.internal:8000/")
        );
        assert_ne!(
            k("http://llm.internal:8000/v1"),
            k("http://llm.internal:8001/v1")
        );
        assert_ne!(
            k("http://llm.internal:8000/v1"),
            k("https://llm.internal:8000/v1")
        );
        assert_ne!(
            k("http://llm.internal:8000/v1"),
            k("http://llm.internal:8000/v1/chat")
        );
        for bad in [
            "http://user:pw@llm.internal:8000/v1",
            "http://llm.internal:8000/v1?x=1",
            "http://llm.internal:8000/v1#f",
            "file:///etc/passwd",
            "llm.internal:8000",
            "",
        ] {
            assert_eq!(k(bad), None, "{bad}");
        }
    }

    #[test]
    fn validation_reports_bad_entries_by_index() {
        let mut problems = Vec::new();
        let raw = RawGitLab {
            allowed_endpoints: vec![
                "http://a:1/v1/".into(),
                "ftp://b".into(),
                "http://A:1/v1".into(),
            ],
            endpoint_timeout: Some("soon".into()),
            ..RawGitLab::default()
        };
        let s = validate(raw, &mut |path, msg| problems.push((path, msg)));
        assert_eq!(s.allowed_endpoints.len(), 1);
        assert_eq!(s.allowed_endpoints[0].base_url, "http://a:1/v1");
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "gitlab.allowed_endpoints[1]",
                "gitlab.allowed_endpoints[2]",
                "gitlab.endpoint_timeout"
            ]
        );
        assert!(s.allowed("http://a:1/v1").is_some());
        assert!(s.allowed("http://a:2/v1").is_none());
    }
}
