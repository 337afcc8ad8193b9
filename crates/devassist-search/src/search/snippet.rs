//! Snippets: the window of a passage that holds the most query words, with each matching
//! word marked `«like this»`, and excerpts of a passage cut to a token budget.

use super::rank::Matcher;
use crate::text::{estimate_tokens, fold_word as fold};

/// Opening and closing marks around matched words.
pub const MARK_OPEN: char = '«';
pub const MARK_CLOSE: char = '»';

/// The best window of about `width` whitespace-separated tokens, matches marked.
pub(crate) fn snippet(body: &str, m: &Matcher, width: usize) -> String {
    let tokens: Vec<&str> = body.split_whitespace().collect();
    if tokens.is_empty() {
        return String::new();
    }
    // Per token: the terms it matches (a token like `json.dumps()` holds several words).
    let hits: Vec<Vec<usize>> = tokens.iter().map(|t| token_terms(t, m)).collect();
    let width = width.max(1).min(tokens.len());
    let mut best = (0usize, 0usize, 0usize); // (distinct terms, matches, start)
    for start in 0..=tokens.len() - width {
        let window = &hits[start..start + width];
        let mut seen = vec![false; m.len()];
        let mut count = 0;
        for h in window {
            for &i in h {
                seen[i] = true;
                count += 1;
            }
        }
        let distinct = seen.iter().filter(|s| **s).count();
        if (distinct, count) > (best.0, best.1) {
            best = (distinct, count, start);
        }
    }
    let start = best.2;
    let end = start + width;
    let mut out = String::new();
    if start > 0 {
        out.push_str("… ");
    }
    let marked: Vec<String> = tokens[start..end].iter().map(|t| mark(t, m)).collect();
    out.push_str(&marked.join(" "));
    if end < tokens.len() {
        out.push_str(" …");
    }
    out
}

fn token_terms(token: &str, m: &Matcher) -> Vec<usize> {
    token
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter_map(|w| m.match_word(&fold(w)).map(|(i, _)| i))
        .collect()
}

/// Marks the matching words inside one token, keeping its punctuation.
fn mark(token: &str, m: &Matcher) -> String {
    let mut out = String::with_capacity(token.len() + 4);
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, word: &str| {
        if m.match_word(&fold(word)).is_some() {
            out.push(MARK_OPEN);
            out.push_str(word);
            out.push(MARK_CLOSE);
        } else {
            out.push_str(word);
        }
    };
    for (i, c) in token.char_indices() {
        if c.is_alphanumeric() {
            word_start.get_or_insert(i);
        } else {
            if let Some(s) = word_start.take() {
                flush(&mut out, &token[s..i]);
            }
            out.push(c);
        }
    }
    if let Some(s) = word_start {
        flush(&mut out, &token[s..]);
    }
    out
}

/// The start of a passage cut to about `max_tokens` tokens at a word boundary.
pub(crate) fn excerpt(body: &str, max_tokens: usize) -> String {
    if estimate_tokens(body) <= max_tokens {
        return body.to_string();
    }
    let max_chars = max_tokens.saturating_mul(4);
    let mut end = 0;
    for (i, _) in body.char_indices().take(max_chars + 1) {
        end = i;
    }
    let cut = body[..end].rfind(char::is_whitespace).unwrap_or(end);
    format!("{} …", body[..cut].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(words: &[&str]) -> Matcher {
        Matcher::with_words(words)
    }

    #[test]
    fn snippet_marks_words_inside_tokens() {
        let m = matcher(&["dumps", "json"]);
        let body = "Intro words here and some more filler text. Use json.dumps() to serialise. Later text.";
        let s = snippet(body, &m, 5);
        assert!(s.contains("«json».«dumps»()"), "{s}");
        assert!(s.starts_with("… ") && s.ends_with(" …"), "{s}");
    }

    #[test]
    fn snippet_of_short_body_is_whole() {
        let m = matcher(&["file"]);
        assert_eq!(snippet("Read a File.", &m, 30), "Read a «File».");
        assert_eq!(snippet("", &m, 30), "");
    }

    #[test]
    fn excerpt_cuts_at_words() {
        assert_eq!(excerpt("short", 10), "short");
        let long = "word ".repeat(100);
        let e = excerpt(&long, 10);
        assert!(e.ends_with(" …") && e.len() <= 45, "{e}");
    }
}
