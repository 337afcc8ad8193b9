//! Re-ranking of BM25 candidates. SQLite's weighted BM25 picks the candidates; this adds what
//! BM25 does not see: how much of the query a passage covers (weighted by rarity), whether
//! query words appear next to each other as a phrase, and whether the title and headings
//! cover the query.

use crate::text::{folded_words, is_stopword, stem};

/// Matches document words against the query terms.
pub(crate) struct Matcher {
    terms: Vec<TermInfo>,
}

/// One query term as the matcher needs it.
struct TermInfo {
    /// The word as searched (after spelling correction).
    word: String,
    stem: String,
    /// First characters of the stem: only words starting with them are stemmed.
    head: String,
    /// Rarity weight.
    weight: f64,
    /// Long enough (four characters) for words starting with it to count as partial matches.
    prefixable: bool,
}

/// How a document word matched a term.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MatchKind {
    /// Same stem.
    Exact,
    /// The document word starts with the query word (`config` → `configparser`).
    Prefix,
}

impl Matcher {
    /// Every word with weight 1 (tests).
    #[cfg(test)]
    pub(crate) fn with_words(words: &[&str]) -> Self {
        let terms: Vec<(String, f64)> = words.iter().map(|w| (w.to_string(), 1.0)).collect();
        Self::new(&terms)
    }

    /// `terms`: (searched word, weight) in query order.
    pub(crate) fn new(terms: &[(String, f64)]) -> Self {
        Self {
            terms: terms
                .iter()
                .map(|(w, weight)| {
                    let stem = stem(w);
                    TermInfo {
                        word: w.clone(),
                        head: stem.chars().take(3).collect(),
                        stem,
                        weight: *weight,
                        prefixable: w.chars().count() >= 4,
                    }
                })
                .collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.terms.len()
    }

    /// Which term a lower-case document word matches, if any.
    pub(crate) fn match_word(&self, word: &str) -> Option<(usize, MatchKind)> {
        let mut prefix = None;
        for (i, t) in self.terms.iter().enumerate() {
            if word == t.word {
                return Some((i, MatchKind::Exact));
            }
            // Stemming is the expensive step: only stem words that share the stem's start.
            if word.starts_with(&t.head) && stem(word) == t.stem {
                return Some((i, MatchKind::Exact));
            }
            if prefix.is_none() && t.prefixable && word.starts_with(&t.word) {
                prefix = Some((i, MatchKind::Prefix));
            }
        }
        prefix
    }
}

/// Ranking signals of one passage.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Signals {
    /// Share of the query's weight found anywhere in the passage (0–1).
    pub coverage: f64,
    /// Share of the query's weight found in the title and headings (0–1).
    pub heading_coverage: f64,
    /// Share of adjacent query-term pairs found next to each other (0–1).
    pub phrase: f64,
}

impl Signals {
    /// Multiplier applied to the BM25 score.
    pub(crate) fn boost(&self) -> f64 {
        (0.35 + 0.65 * self.coverage)
            * (1.0 + 0.5 * self.phrase)
            * (1.0 + 0.4 * self.heading_coverage)
    }
}

/// Computes the signals of a passage.
pub(crate) fn signals(m: &Matcher, title: &str, headings: &str, body: &str) -> Signals {
    let n = m.len();
    if n == 0 {
        return Signals::default();
    }
    let total: f64 = m
        .terms
        .iter()
        .map(|t| t.weight)
        .sum::<f64>()
        .max(f64::EPSILON);
    let mut found = vec![0.0f64; n];
    let mut in_heading = vec![0.0f64; n];
    let mut pairs = vec![false; n.saturating_sub(1)];

    for (field, text) in [(0, title), (1, headings), (2, body)] {
        // Position of the previous content word's match, to detect adjacent pairs.
        let mut prev: Option<usize> = None;
        for w in folded_words(text) {
            if is_stopword(&w) {
                continue;
            }
            let matched = m.match_word(&w);
            if let Some((i, kind)) = matched {
                let credit = if kind == MatchKind::Exact { 1.0 } else { 0.5 };
                found[i] = found[i].max(credit);
                if field < 2 {
                    in_heading[i] = in_heading[i].max(credit);
                }
                if let Some(p) = prev
                    && i == p + 1
                {
                    pairs[p] = true;
                }
            }
            prev = matched.map(|(i, _)| i);
        }
    }
    let weighted = |v: &[f64]| {
        v.iter()
            .zip(&m.terms)
            .map(|(c, t)| c * t.weight)
            .sum::<f64>()
            / total
    };
    Signals {
        coverage: weighted(&found),
        heading_coverage: weighted(&in_heading),
        phrase: if pairs.is_empty() {
            0.0
        } else {
            pairs.iter().filter(|p| **p).count() as f64 / pairs.len() as f64
        },
    }
}

/// Weight of a term from its document frequency: rare words say more about what is wanted.
pub(crate) fn idf(df: u32, sections: u64) -> f64 {
    let n = sections.max(1) as f64;
    let df = f64::from(df).min(n);
    ((n - df + 0.5) / (df + 0.5) + 1.0).ln().max(0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(words: &[&str]) -> Matcher {
        Matcher::with_words(words)
    }

    #[test]
    fn words_match_by_stem_or_prefix() {
        let m = matcher(&["dictionaries", "config"]);
        assert_eq!(m.match_word("dictionary"), Some((0, MatchKind::Exact)));
        assert_eq!(m.match_word("configparser"), Some((1, MatchKind::Prefix)));
        assert_eq!(m.match_word("list"), None);
    }

    #[test]
    fn phrase_and_coverage() {
        let m = matcher(&["temporary", "directory"]);
        let s = signals(&m, "tempfile", "", "Create a temporary directory now.");
        assert!((s.coverage - 1.0).abs() < 1e-9);
        assert!((s.phrase - 1.0).abs() < 1e-9);
        assert!(s.heading_coverage.abs() < 1e-9);
        let s = signals(&m, "Directory tools", "", "a directory that is temporary");
        assert!(s.phrase.abs() < 1e-9);
        assert!((s.heading_coverage - 0.5).abs() < 1e-9);
        assert!(signals(&m, "", "", "").boost() < s.boost());
    }

    #[test]
    fn rare_terms_weigh_more() {
        assert!(idf(2, 10_000) > idf(5_000, 10_000));
        assert!(idf(10_000, 10_000) > 0.0);
    }
}
