//! Choosing the FTS5 expression that picks BM25 candidates.
//!
//! FTS5 computes BM25 for every passage an expression matches before it can sort them, at
//! about a microsecond each; a question with two common words ("file", "function") matches
//! most of an index and costs many milliseconds, while such words barely change the ranking.
//! So candidates come from the rarest query words, rarest first, as long as the passages they
//! match add up to at most a budget ([`MAX_SCORED_ROWS`] by default; each word's count is stored in the index at
//! build time). Passages holding two of the remaining common words join them when they are
//! few. When even the rarest two words are common, passages must contain both. Every query
//! word still counts when the candidates are re-ranked.

use super::query::quote;

/// Default of [`super::SearchOptions::max_scored_rows`].
pub(crate) const MAX_SCORED_ROWS: u64 = 2000;

/// The candidate queries: `narrow`, joined by `pair` when the passages holding both of the
/// two rarest common words are few enough (the searcher counts them, which is cheap), and
/// `wide` when those find too few passages.
#[derive(Debug, PartialEq)]
pub(crate) struct Plan {
    pub narrow: String,
    pub pair: Option<String>,
    pub wide: Option<String>,
}

/// `terms`: (word, passages it matches) in query order; the last word is a prefix when
/// `prefix_last`. Needs at least one term.
pub(crate) fn plan(terms: &[(&str, u32)], prefix_last: bool, max_rows: u64) -> Plan {
    let last = terms.len().saturating_sub(1);
    let expr = |i: usize| {
        let q = quote(terms[i].0);
        if prefix_last && i == last {
            format!("{q}*")
        } else {
            q
        }
    };
    let any = |mut ids: Vec<usize>| {
        ids.sort_unstable();
        ids.into_iter().map(expr).collect::<Vec<_>>().join(" OR ")
    };
    let mut order: Vec<usize> = (0..terms.len()).collect();
    order.sort_by_key(|&i| terms[i].1);
    let mut chosen = Vec::new();
    let mut rows = 0u64;
    for &i in &order {
        let r = u64::from(terms[i].1);
        if !chosen.is_empty() && rows + r > max_rows {
            break;
        }
        rows += r;
        chosen.push(i);
    }
    let rest: Vec<usize> = order[chosen.len()..].to_vec();
    match (chosen.as_slice(), rest.as_slice()) {
        // Even the two rarest words together are too common: require both.
        (&[first], &[second, ..]) => Plan {
            narrow: format!("{} AND {}", expr(first), expr(second)),
            pair: None,
            wide: Some(expr(first)),
        },
        // Passages with two of the common words are likely answers too, and usually few:
        // add them without scoring every passage that has one common word.
        (_, &[a, b, ..]) => {
            let wide = any(chosen.iter().copied().chain([a]).collect());
            Plan {
                narrow: any(chosen),
                pair: Some(format!("{} AND {}", expr(a), expr(b))),
                wide: Some(wide),
            }
        }
        (_, &[a]) => {
            let wide = any(chosen.iter().copied().chain([a]).collect());
            Plan {
                narrow: any(chosen),
                pair: None,
                wide: Some(wide),
            }
        }
        (_, []) => Plan {
            narrow: any(chosen),
            pair: None,
            wide: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rare_words_pick_candidates() {
        let p = plan(
            &[("read", 2000), ("csv", 60), ("dictionary", 700)],
            false,
            MAX_SCORED_ROWS,
        );
        assert_eq!(p.narrow, r#""csv" OR "dictionary""#);
        assert_eq!(
            p.wide.as_deref(),
            Some(r#""read" OR "csv" OR "dictionary""#)
        );
        assert_eq!(p.pair, None);
        let p = plan(
            &[("read", 2000), ("csv", 60), ("file", 3000), ("rows", 900)],
            false,
            MAX_SCORED_ROWS,
        );
        assert_eq!(p.narrow, r#""csv" OR "rows""#);
        assert_eq!(p.pair.as_deref(), Some(r#""read" AND "file""#));
    }

    #[test]
    fn common_words_are_required_together() {
        let p = plan(
            &[("file", 3000), ("python", 5000), ("open", 2500)],
            true,
            MAX_SCORED_ROWS,
        );
        assert_eq!(p.narrow, r#""open"* AND "file""#);
        assert_eq!(p.wide.as_deref(), Some(r#""open"*"#));
    }

    #[test]
    fn cheap_queries_use_every_word() {
        let p = plan(&[("json", 300), ("dumps", 20)], true, MAX_SCORED_ROWS);
        assert_eq!(p.narrow, r#""json" OR "dumps"*"#);
        assert_eq!(p.wide, None);
        let p = plan(&[("function", 5000)], false, MAX_SCORED_ROWS);
        assert_eq!(p.narrow, r#""function""#);
        assert_eq!(p.wide, None);
    }
}
