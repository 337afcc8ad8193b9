//! The credential a request presents, from the headers clients send it in:
//! `Authorization: Bearer <key or JWT>` (OpenAI clients; GitLab; the `ollama` Python client
//! sends this when given `OLLAMA_API_KEY` or an `Authorization` header), `x-api-key: <key>`
//! (Anthropic clients), and a bare `Authorization: <key>` when the value has our key's
//! shape (clients that let users paste a header value). Whether it is an API key or a token
//! is decided by `Auth::authenticate`.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// What the headers carry.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    None,
    /// An API key or a token.
    Key(&'a str),
    /// An `Authorization` header that is neither a bearer token nor one of our keys.
    Malformed,
}

pub fn presented(headers: &HeaderMap) -> Presented<'_> {
    if let Some(v) = headers.get(AUTHORIZATION) {
        let Ok(v) = v.to_str() else {
            return Presented::Malformed;
        };
        let v = v.trim();
        if let Some((scheme, token)) = v.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            let token = token.trim();
            return if token.is_empty() {
                Presented::Malformed
            } else {
                Presented::Key(token)
            };
        }
        if super::secret::looks_like_key(v) {
            return Presented::Key(v);
        }
        return Presented::Malformed;
    }
    match headers.get("x-api-key").map(|v| v.to_str().map(str::trim)) {
        Some(Ok(v)) if !v.is_empty() => Presented::Key(v),
        Some(_) => Presented::Malformed,
        None => Presented::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn every_header_clients_use() {
        let key = "dak_0123456789ab_secret";
        let bearer = format!("Bearer {key}");
        let lower = format!("bearer  {key}");
        for h in [
            headers(&[("authorization", bearer.as_str())]),
            headers(&[("authorization", lower.as_str())]),
            headers(&[("authorization", key)]),
            headers(&[("x-api-key", key)]),
        ] {
            assert_eq!(presented(&h), Presented::Key(key));
        }
        assert_eq!(presented(&HeaderMap::new()), Presented::None);
        for bad in ["Basic dXNlcjpwYXNz", "Bearer ", "sk-somethingelse"] {
            assert_eq!(
                presented(&headers(&[("authorization", bad)])),
                Presented::Malformed,
                "{bad}"
            );
        }
    }
}
