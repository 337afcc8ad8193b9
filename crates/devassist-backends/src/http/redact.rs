//! What an upstream says about an error, made fit for a client and a log line: one short
//! line, control characters gone, and anything that looks like a credential replaced.
//!
//! Upstreams echo requests back in their errors (a proxy's debug page, a framework's
//! validation error quoting the headers): the backend's API key must not travel on to every
//! client. Patterns catch the usual shapes (bearer tokens, `api_key=…`, OpenAI / GitHub /
//! GitLab / Hugging Face / AWS keys, JWTs); the backend's own secrets are replaced
//! literally, whatever their shape.

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::OnceLock;

/// Longest message kept, in bytes (cut on a character boundary).
pub(super) const MAX_LEN: usize = 200;

const REDACTED: &str = "[redacted]";

/// The text as one short, clean line with credential-shaped parts replaced.
pub(crate) fn summary(text: &str) -> String {
    let line = one_line(text);
    let redacted = patterns(&line);
    cut(&redacted, MAX_LEN)
}

/// Control characters (newlines, tabs, escapes) become spaces; runs of spaces collapse.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MAX_LEN));
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_control() || c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !out.is_empty() {
            out.push(' ');
        }
        space = false;
        out.push(c);
        // Enough kept to find a credential that crosses the cut, without scanning megabytes.
        if out.len() > 8 * MAX_LEN {
            break;
        }
    }
    out
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Replaces every credential-shaped part of `text`.
pub(crate) fn patterns(text: &str) -> String {
    static RULES: OnceLock<Option<Rules>> = OnceLock::new();
    let Some(rules) = RULES.get_or_init(Rules::new) else {
        // The patterns are constants; should they ever fail to build, say nothing at all
        // rather than something unchecked.
        return REDACTED.to_owned();
    };
    let text = rules.named.replace_all(text, |c: &Captures<'_>| {
        format!("{}{}{REDACTED}", &c["name"], &c["sep"])
    });
    let text = rules.scheme.replace_all(&text, |c: &Captures<'_>| {
        format!("{} {REDACTED}", &c["scheme"])
    });
    rules.shaped.replace_all(&text, REDACTED).into_owned()
}

struct Rules {
    /// `api_key=…`, `"token": "…"`, `Authorization: …`, `password=…`.
    named: Regex,
    /// `Bearer …`, `Basic …`.
    scheme: Regex,
    /// Keys recognisable by their own shape.
    shaped: Regex,
}

impl Rules {
    fn new() -> Option<Rules> {
        let named = Regex::new(
            r#"(?ix)
            (?P<name>
                (?:proxy-)?authorization | x-api-key | api[-_]?key | apikey
                | (?:access|refresh|id|auth|private)?[-_]?token | secret | client[-_]?secret
                | password | passwd | pwd
            )
            (?P<sep> ["']? \s* [:=] \s* ["']? )
            (?: (?:bearer|basic|token)\s+ )?
            [^\s"',;&}\]]+"#,
        )
        .ok()?;
        let scheme = Regex::new(r"(?i)\b(?P<scheme>bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}").ok()?;
        let shaped = Regex::new(
            r"(?x)
            \b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}
            | \bgh[pousr]_[A-Za-z0-9]{16,}
            | \bgithub_pat_[A-Za-z0-9_]{16,}
            | \bglpat-[A-Za-z0-9_-]{12,}
            | \bhf_[A-Za-z0-9]{16,}
            | \bxox[abposr]-[A-Za-z0-9-]{10,}
            | \b(?:AKIA|ASIA)[0-9A-Z]{16}\b
            | \beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        )
        .ok()?;
        Some(Rules {
            named,
            scheme,
            shaped,
        })
    }
}

/// The backend's own secrets (API key, passwords in its URL and its proxy's), replaced
/// wherever they appear, in any shape.
#[derive(Clone, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    /// Secrets shorter than this are not searched for: they would match ordinary words.
    const MIN_LEN: usize = 4;

    pub fn add(&mut self, secret: &str) {
        let secret = secret.trim();
        if secret.len() >= Self::MIN_LEN && !self.0.iter().any(|s| s == secret) {
            self.0.push(secret.to_owned());
        }
    }

    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.0 {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }

    /// The error with its message and detail scrubbed.
    pub fn scrub_error(
        &self,
        mut err: devassist_core::GatewayError,
    ) -> devassist_core::GatewayError {
        if let Cow::Owned(clean) = self.scrub(&err.message) {
            err.message = clean;
        }
        if let Some(detail) = &err.detail
            && let Cow::Owned(clean) = self.scrub(detail)
        {
            err.detail = Some(clean);
        }
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_of_every_usual_shape_are_replaced() {
        let cases = [
            "Authorization: Bearer abcdefgh12345678",
            "authorization=Basic dXNlcjpwYXNzd29yZA==",
            r#"{"headers": {"authorization": "Bearer abcdefgh12345678"}}"#,
            "invalid api_key=abcd1234efgh in query",
            r#"{"api-key": "abcd1234efgh"}"#,
            "x-api-key: abcd1234efgh",
            "?token=abcd1234efgh&x=1",
            "access_token: abcd1234efgh",
            "client_secret=abcd1234efgh",
            "password=abcd1234efgh",
            "key sk-proj-abcdefgh12345678 is invalid",
            "key sk-ant-api03-abcdefgh12345678 is invalid",
            "token ghp_abcdefghijklmnop1234 expired",
            "github_pat_11ABCDEFG0123456789_abcdefghijkl",
            "glpat-abcdefgh12345678",
            "hf_abcdefghijklmnopqrstuv",
            "AKIAABCDEFGHIJKLMNOP",
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl here",
            "got bearer abcdefgh12345678 from you",
        ];
        for text in cases {
            let out = summary(text);
            for secret in [
                "abcdefgh12345678",
                "dXNlcjpwYXNzd29yZA",
                "abcd1234efgh",
                "abcdefghijklmnop1234",
                "0123456789_abcdefghijkl",
                "abcdefghijklmnopqrstuv",
                "ABCDEFGHIJKLMNOP",
                "c2lnbmF0dXJl",
            ] {
                assert!(!out.contains(secret), "{text:?} → {out:?}");
            }
            assert!(out.contains(REDACTED), "{text:?} → {out:?}");
        }
    }

    #[test]
    fn ordinary_messages_are_kept() {
        for text in [
            "model 'llama3:8b' not found, try pulling it first",
            "This model's maximum context length is 8192 tokens",
            "max_tokens must be at least 1, got 0",
            "too many tokens in the request",
            "bad temperature",
        ] {
            assert_eq!(summary(text), text);
        }
    }

    #[test]
    fn one_short_line_without_control_characters() {
        let out = summary("line one\r\n\tline two\u{1b}[31m red\u{0}");
        assert_eq!(out, "line one line two [31m red");
        let long = "é".repeat(1000);
        let out = summary(&long);
        assert!(out.len() <= MAX_LEN + '…'.len_utf8());
        assert!(out.ends_with('…'));
    }

    #[test]
    fn the_backends_own_secrets_go_in_any_shape() {
        let mut secrets = Secrets::default();
        secrets.add("plainword-secret");
        secrets.add("ab");
        assert_eq!(
            secrets.scrub("echo: plainword-secret; ab"),
            "echo: [redacted]; ab"
        );
    }
}
