//! `[redaction]`: whether secrets in a prompt are replaced by placeholders before it leaves
//! for a backend (`pipeline/redact.rs`), and which backends count as local.
//!
//! Local: the embedded engine, `mock` backends, `process` backends (the gateway starts them
//! itself, on this machine), and any backend whose URL's host is loopback (`localhost`,
//! `127.0.0.0/8`, `::1`). Everything else — a remote vLLM, a cloud API, a GitLab
//! allow-listed endpoint on another host — is not. A host name other than `localhost` is
//! not looked up: it counts as remote even when it resolves to this machine.

use super::settings::BackendSettings;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct RawRedaction {
    /// `auto` (default): redact for backends that are not local. `always`: for every
    /// backend. `off`: for none. A backend's own `redact_secrets` wins over the mode.
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RedactionMode {
    #[default]
    Auto,
    Always,
    Off,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RedactionSettings {
    pub mode: RedactionMode,
}

pub fn validate(raw: RawRedaction, p: &mut impl FnMut(String, String)) -> RedactionSettings {
    let mode = match raw.mode.as_deref() {
        None | Some("auto") => RedactionMode::Auto,
        Some("always") => RedactionMode::Always,
        Some("off") => RedactionMode::Off,
        Some(other) => {
            p(
                "redaction.mode".into(),
                format!("`{other}` is not one of auto, always, off"),
            );
            RedactionMode::Auto
        }
    };
    RedactionSettings { mode }
}

impl RedactionSettings {
    /// Whether prompts to a backend are redacted: its own `redact_secrets`, else the mode.
    pub fn decide(&self, explicit: Option<bool>, local: bool) -> bool {
        explicit.unwrap_or(match self.mode {
            RedactionMode::Auto => !local,
            RedactionMode::Always => true,
            RedactionMode::Off => false,
        })
    }

    /// For a configured backend.
    pub fn for_backend(&self, b: &BackendSettings) -> bool {
        self.decide(b.redact_secrets, is_local(b))
    }

    /// For a backend reached at `url` (a GitLab allow-listed endpoint).
    pub fn for_url(&self, url: &str) -> bool {
        self.decide(None, is_loopback_url(url))
    }
}

/// Whether a configured backend runs on this machine.
pub fn is_local(b: &BackendSettings) -> bool {
    use super::lifecycle::ProviderSettings;
    if b.kind == super::BackendKind::Mock {
        return true;
    }
    if b.lifecycle
        .as_ref()
        .is_some_and(|l| matches!(l.provider, ProviderSettings::Process(_)))
    {
        return true;
    }
    b.url.as_deref().is_some_and(is_loopback_url)
}

/// Whether `url`'s host is loopback: `localhost` (or a name under it), `127.0.0.0/8`, `::1`.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(&url.replace("{port}", "1")) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_local_and_every_other_host_is_not() {
        for url in [
            "http://localhost:8000/v1",
            "http://LOCALHOST./v1",
            "http://gpu.localhost/v1",
            "http://127.0.0.1:11434",
            "http://127.8.9.10:1/v1",
            "http://[::1]:8000/v1",
            "http://127.0.0.1:{port}/v1",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in [
            "https://api.openai.com/v1",
            "http://10.0.0.5:8000/v1",
            "http://gpu-box:11434",
            "http://localhost.example.com/v1",
            "http://[::ffff:10.0.0.1]/v1",
            "not a url",
        ] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn the_mode_decides_unless_the_backend_does() {
        let mut problems = Vec::new();
        let mut p = |path: String, msg: String| problems.push((path, msg));
        let auto = validate(RawRedaction::default(), &mut p);
        assert!(auto.decide(None, false) && !auto.decide(None, true));
        assert!(!auto.decide(Some(false), false) && auto.decide(Some(true), true));
        let always = validate(
            RawRedaction {
                mode: Some("always".into()),
            },
            &mut p,
        );
        assert!(always.decide(None, true) && !always.decide(Some(false), false));
        let off = validate(
            RawRedaction {
                mode: Some("off".into()),
            },
            &mut p,
        );
        assert!(!off.decide(None, false) && off.decide(Some(true), true));
        validate(
            RawRedaction {
                mode: Some("sometimes".into()),
            },
            &mut p,
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "redaction.mode");
    }
}
