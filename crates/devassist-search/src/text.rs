//! Text cleaning and word splitting, shared by the index and the query side.
//!
//! GitLab's SQLite docs index cleans text one way when it builds the index and another way when
//! it queries it, so some queries can never match. Here [`clean_text`] is the only cleaning
//! step: the builder runs it over every title, heading and body before storing them, and the
//! searcher runs it over every query before splitting it into words. [`words`] mirrors how the
//! FTS5 `unicode61 remove_diacritics 2` tokenizer splits and folds text, so the Rust side
//! (typo correction, phrase checks, snippets) sees the same words SQLite indexed.

use rust_stemmers::{Algorithm, Stemmer};
use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Normalises text for storage and for querying: Unicode NFKC (so ligatures, full-width forms
/// and non-breaking spaces become plain characters), invisible characters removed, runs of
/// spaces collapsed, and paragraphs (blank-line separated) kept. Case is kept so snippets stay
/// readable; the tokenizer folds case.
pub fn clean_text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut pending_space = false;
    let mut newlines = 0usize;
    for c in input.nfkc() {
        match c {
            '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => {}
            '\n' => {
                newlines += 1;
                pending_space = false;
            }
            c if c.is_whitespace() || c.is_control() => pending_space = true,
            c => {
                if !out.is_empty() {
                    if newlines >= 2 {
                        out.push_str("\n\n");
                    } else if newlines == 1 {
                        out.push('\n');
                    } else if pending_space {
                        out.push(' ');
                    }
                }
                newlines = 0;
                pending_space = false;
                out.push(c);
            }
        }
    }
    out
}

/// Splits text into lower-case words the way FTS5's `unicode61 remove_diacritics 2` does:
/// letters and digits form words, everything else separates them, diacritics are dropped.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    folded_words(text).map(Cow::into_owned)
}

/// [`words`] without copying words that are already folded (most of them), for hot loops.
pub(crate) fn folded_words(text: &str) -> impl Iterator<Item = Cow<'_, str>> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold_word)
}

/// Lower-cases a word and removes diacritics (`Café` → `cafe`).
pub(crate) fn fold_word(word: &str) -> Cow<'_, str> {
    if word.is_ascii() {
        if word.bytes().any(|b| b.is_ascii_uppercase()) {
            return Cow::Owned(word.to_ascii_lowercase());
        }
        return Cow::Borrowed(word);
    }
    Cow::Owned(
        word.nfd()
            .filter(|c| !is_combining_mark(*c))
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// English stem of a lower-case word, used to compare query words with document words when
/// ranking and highlighting (SQLite does its own Porter stemming for matching).
pub fn stem(word: &str) -> String {
    STEMMER.stem(word).into_owned()
}

/// Words that carry no meaning in a question ("how do I …"). They are dropped from queries
/// only: the index keeps every word, so phrase matching in SQLite is unaffected.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "been", "being", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing",
    "each", "else", "for", "from", "had", "has", "have", "having", "he", "her", "here", "him",
    "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "me", "might", "more",
    "most", "much", "must", "my", "need", "no", "nor", "not", "of", "off", "on", "once", "only",
    "or", "other", "our", "out", "over", "own", "please", "same", "she", "should", "so", "some",
    "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this",
    "those", "through", "to", "too", "under", "until", "up", "very", "want", "was", "way", "we",
    "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
    "would", "you", "your",
];

static STOPWORD_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| STOPWORDS.iter().copied().collect());

/// Whether a lower-case word is a query stop word.
pub fn is_stopword(word: &str) -> bool {
    // Every stop word is short: skip the hash for longer words.
    word.len() <= 8 && STOPWORD_SET.contains(word)
}

/// A rough token count (about four characters per token), used for result budgets. Exact
/// counts would need the model's tokenizer, which the search side does not have.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

/// Cuts a string to at most `max` bytes at a character boundary.
pub fn truncate_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted_short_and_found() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(STOPWORDS.iter().all(|w| w.len() <= 8 && is_stopword(w)));
        assert!(!is_stopword("json"));
    }

    #[test]
    fn clean_text_normalises_and_keeps_paragraphs() {
        let s = "ﬁle\u{00A0}name\u{200B}s  here\r\n\r\n\n next\tline\nend ";
        assert_eq!(clean_text(s), "file names here\n\nnext line\nend");
    }

    #[test]
    fn words_fold_case_and_diacritics_like_unicode61() {
        let w: Vec<String> = words("Café os.path.join() __init__ HTTP/2").collect();
        assert_eq!(w, ["cafe", "os", "path", "join", "init", "http", "2"]);
    }

    #[test]
    fn same_cleaning_for_index_and_query() {
        // The GitLab bug: punctuation removed at index time but not at query time.
        let doc = clean_text("Use `json.dumps()` to serialise.");
        let query = clean_text("json.dumps");
        let doc_words: Vec<String> = words(&doc).collect();
        assert!(words(&query).all(|w| doc_words.contains(&w)));
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_at_char("héllo", 2), "h");
        assert_eq!(truncate_at_char("abc", 10), "abc");
    }
}
