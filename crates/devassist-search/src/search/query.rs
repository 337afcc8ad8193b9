//! Turning user input into search terms and FTS5 query expressions.
//!
//! User text never reaches FTS5 as query syntax: it is cleaned with the index's own
//! [`clean_text`], split into words (letters and digits only), and every word is emitted as a
//! double-quoted FTS5 string. `AND`, `NEAR(`, `col:`, `*`, `^` and quotes typed by a user are
//! therefore plain text, and no input can cause an FTS5 syntax error.

use crate::error::{Result, SearchError};
use crate::text::{clean_text, is_stopword, stem, truncate_at_char, words};

/// Longest query accepted, in bytes: GitLab's `/v1/search/gitlab-docs` limit.
pub(crate) const MAX_QUERY_BYTES: usize = 400_000;
/// Only the first bytes of a longer query are read for terms; a question longer than this is
/// a pasted document, and its opening says what it is about.
pub(crate) const ANALYSED_QUERY_BYTES: usize = 4096;
/// At most this many distinct terms are searched.
pub(crate) const MAX_TERMS: usize = 32;
/// Queries of at most this many words are treated as typed in a search box (see
/// [`Query::prefix_last`]).
const MAX_PREFIX_QUERY_WORDS: usize = 3;

/// One search term.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Term {
    /// The word as typed, folded to lower case.
    pub word: String,
    pub stem: String,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    pub terms: Vec<Term>,
    /// The last word of a short keyword query was still being typed (no space or punctuation
    /// after it): match it as a prefix too.
    pub prefix_last: bool,
}

/// Validates and parses a query.
pub(crate) fn parse(input: &str) -> Result<Query> {
    if input.trim().is_empty() {
        return Err(SearchError::EmptyQuery);
    }
    if input.len() > MAX_QUERY_BYTES {
        return Err(SearchError::QueryTooLong {
            len: input.len(),
            max: MAX_QUERY_BYTES,
        });
    }
    let truncated = input.len() > ANALYSED_QUERY_BYTES;
    let text = clean_text(truncate_at_char(input, ANALYSED_QUERY_BYTES));
    let all: Vec<String> = words(&text).collect();
    if all.is_empty() {
        return Err(SearchError::NoSearchableWords);
    }
    let content: Vec<&String> = all.iter().filter(|w| !is_stopword(w)).collect();
    // A query made only of stop words ("how to") still searches for them.
    let chosen: Vec<&String> = if content.is_empty() {
        all.iter().collect()
    } else {
        content
    };
    let mut terms: Vec<Term> = Vec::new();
    for w in chosen {
        if terms.len() == MAX_TERMS {
            break;
        }
        if !terms.iter().any(|t| &t.word == w) {
            terms.push(Term {
                word: w.clone(),
                stem: stem(w),
            });
        }
    }
    let last_typed = all.last().map(String::as_str);
    // Only keyword queries are typed into a search box word by word; the last word of a
    // question is complete, and a prefix query on it costs FTS5 a merge of every word that
    // starts with it.
    let prefix_last = !truncated
        && all.len() <= MAX_PREFIX_QUERY_WORDS
        && input.chars().last().is_some_and(char::is_alphanumeric)
        && terms.last().map(|t| t.word.as_str()) == last_typed
        && last_typed.is_some_and(|w| w.chars().count() >= 3);
    Ok(Query { terms, prefix_last })
}

/// An FTS5 string literal: the text in double quotes, inner quotes doubled.
pub(crate) fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The trigrams of a word as an FTS5 OR expression for the trigram table, or `None` for a
/// word too short to have one.
pub(crate) fn trigrams(word: &str) -> Option<String> {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 3 {
        return None;
    }
    let mut grams: Vec<String> = chars.windows(3).map(|w| w.iter().collect()).collect();
    grams.sort();
    grams.dedup();
    Some(
        grams
            .iter()
            .map(|g| quote(g))
            .collect::<Vec<_>>()
            .join(" OR "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_of(q: &Query) -> Vec<&str> {
        q.terms.iter().map(|t| t.word.as_str()).collect()
    }

    #[test]
    fn questions_lose_stop_words_and_duplicates() -> Result<()> {
        let q = parse("How do I read a CSV file, and write a CSV file?")?;
        assert_eq!(words_of(&q), ["read", "csv", "file", "write"]);
        assert!(!q.prefix_last);
        assert_eq!(q.terms[0].stem, "read");
        Ok(())
    }

    #[test]
    fn last_word_being_typed_is_a_prefix() -> Result<()> {
        assert!(parse("json dum")?.prefix_last);
        assert!(!parse("json dum ")?.prefix_last);
        assert!(!parse("json du")?.prefix_last);
        assert!(parse("python json dum")?.prefix_last);
        assert!(!parse("how to parse json dum")?.prefix_last);
        Ok(())
    }

    #[test]
    fn stop_word_only_queries_still_search() -> Result<()> {
        assert_eq!(words_of(&parse("how to")?), ["how", "to"]);
        Ok(())
    }

    #[test]
    fn bad_queries_are_rejected() {
        assert!(matches!(parse(""), Err(SearchError::EmptyQuery)));
        assert!(matches!(parse(" \n\t"), Err(SearchError::EmptyQuery)));
        assert!(matches!(
            parse("?!* \"\" ()"),
            Err(SearchError::NoSearchableWords)
        ));
        let huge = "a".repeat(MAX_QUERY_BYTES + 1);
        assert!(matches!(
            parse(&huge),
            Err(SearchError::QueryTooLong { .. })
        ));
    }

    #[test]
    fn long_queries_are_cut_to_a_bounded_number_of_terms() -> Result<()> {
        let long: String = (0..5000).map(|i| format!("word{i} ")).collect();
        let q = parse(&long)?;
        assert_eq!(q.terms.len(), MAX_TERMS);
        Ok(())
    }

    #[test]
    fn fts_syntax_in_input_is_quoted_text() -> Result<()> {
        let q = parse("title:json AND NEAR(\"x\" OR y*) ^start")?;
        // Only letters and digits survive, and each word is quoted on its own.
        assert_eq!(words_of(&q), ["title", "json", "near", "x", "y", "start"]);
        assert!(!q.prefix_last, "a long query is not typed word by word");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        Ok(())
    }

    #[test]
    fn trigram_expressions() {
        assert_eq!(
            trigrams("jsons").as_deref(),
            Some(r#""jso" OR "ons" OR "son""#)
        );
        assert_eq!(trigrams("ab"), None);
    }
}
