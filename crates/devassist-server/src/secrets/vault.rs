//! One request's placeholders: each secret found becomes `<SECRET_KIND_N>`, the same secret
//! the same placeholder everywhere in the request (so a model that sees a key twice knows it
//! is one key), and the answer gets the originals back.
//!
//! The form is an all-caps name in angle brackets: one token run models copy verbatim, that
//! no detector pattern takes for a secret (so redacting twice changes nothing), and that
//! starts with `<`, the one character the stream restorer must watch at a chunk's end.
//!
//! The vault holds the secrets in memory for the request's life and never prints them
//! (`Debug` shows only the placeholders).

use super::detect::{Detector, Kind};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// What every placeholder starts with.
pub const PLACEHOLDER_START: &str = "<SECRET_";

#[derive(Default, Clone)]
pub struct Vault {
    /// Secret → index in `entries`.
    by_secret: HashMap<String, usize>,
    /// Placeholder → index in `entries`.
    by_placeholder: HashMap<String, usize>,
    entries: Vec<Entry>,
    /// Secrets replaced, by kind (every occurrence counts).
    counts: [u64; Kind::ALL.len()],
    /// Placeholders made so far, by kind (numbers them).
    numbered: [u32; Kind::ALL.len()],
    longest: usize,
}

#[derive(Clone)]
struct Entry {
    placeholder: String,
    secret: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| &e.placeholder))
            .finish()
    }
}

impl Vault {
    pub fn new() -> Self {
        Self::default()
    }

    /// No secret was replaced.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many secrets were replaced, by kind; kinds with none left out.
    pub fn counts(&self) -> impl Iterator<Item = (Kind, u64)> + '_ {
        Kind::ALL
            .iter()
            .map(|&k| (k, self.counts[k.index()]))
            .filter(|(_, n)| *n > 0)
    }

    /// Every replacement made.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The longest placeholder, in bytes.
    pub fn longest(&self) -> usize {
        self.longest
    }

    fn placeholder(&mut self, kind: Kind, secret: &str) -> &str {
        let index = match self.by_secret.get(secret) {
            Some(&i) => i,
            None => {
                let n = &mut self.numbered[kind.index()];
                *n += 1;
                let placeholder = format!("{PLACEHOLDER_START}{}_{n}>", kind.placeholder_name());
                self.longest = self.longest.max(placeholder.len());
                let i = self.entries.len();
                self.by_secret.insert(secret.to_owned(), i);
                self.by_placeholder.insert(placeholder.clone(), i);
                self.entries.push(Entry {
                    placeholder,
                    secret: secret.to_owned(),
                });
                i
            }
        };
        self.counts[kind.index()] += 1;
        &self.entries[index].placeholder
    }

    /// Replaces the secrets `detector` finds in `text`; returns how many.
    pub fn redact(&mut self, detector: &Detector, text: &mut String) -> usize {
        let found = detector.find(text);
        if found.is_empty() {
            return 0;
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for f in &found {
            out.push_str(&text[at..f.range.start]);
            out.push_str(self.placeholder(f.kind, &text[f.range.clone()]));
            at = f.range.end;
        }
        out.push_str(&text[at..]);
        *text = out;
        found.len()
    }

    /// Redacts every string in a JSON value (tool call arguments, tool definitions).
    pub fn redact_json(&mut self, detector: &Detector, value: &mut Value) -> usize {
        let mut n = 0;
        walk_json(value, &mut |s| n += self.redact(detector, s));
        n
    }

    /// `text` with every placeholder of this vault replaced by its secret.
    pub fn restore<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.entries.is_empty() || !text.contains(PLACEHOLDER_START) {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find(PLACEHOLDER_START) {
            out.push_str(&rest[..i]);
            let candidate = &rest[i..];
            let secret = candidate
                .find('>')
                .filter(|&end| end < self.longest)
                .and_then(|end| {
                    self.by_placeholder
                        .get(&candidate[..=end])
                        .map(|&e| (e, end))
                });
            match secret {
                Some((e, end)) => {
                    out.push_str(&self.entries[e].secret);
                    rest = &candidate[end + 1..];
                }
                None => {
                    out.push('<');
                    rest = &candidate[1..];
                }
            }
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// Restores every string in a JSON value.
    pub fn restore_json(&self, value: &mut Value) {
        if self.entries.is_empty() {
            return;
        }
        walk_json(value, &mut |s| {
            if let Cow::Owned(restored) = self.restore(s) {
                *s = restored;
            }
        });
    }

    /// Where `text` should be cut so that a placeholder its end may have begun waits for
    /// the next chunk: the position of a trailing `<…` that is a proper prefix of one of
    /// this vault's placeholders, else `text.len()`.
    pub fn safe_end(&self, text: &str) -> usize {
        let Some(lt) = text.rfind('<') else {
            return text.len();
        };
        let tail = &text[lt..];
        if tail.len() >= self.longest {
            return text.len();
        }
        let may_begin = self
            .entries
            .iter()
            .any(|e| e.placeholder.len() > tail.len() && e.placeholder.starts_with(tail));
        if may_begin { lt } else { text.len() }
    }
}

/// Calls `f` on every string in `value`, object keys left alone.
pub fn walk_json(value: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter_mut().for_each(|v| walk_json(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| walk_json(v, f)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}
