//! Retrieval evaluation: a question set with the page each question should find, recall@5
//! and MRR@10 over it, and a deterministic typo generator for the "with typos" run. Used by
//! `make bench-search` and by the crate's quality test.
//!
//! Question files are tab-separated: `question<TAB>expected/page.html[|other/page.html]`;
//! blank lines and lines starting with `#` are ignored. A question is answered when a result
//! in the top k has one of the expected paths.

use crate::error::{Result, SearchError};
use crate::search::Searcher;
use crate::text::is_stopword;
use serde::Serialize;
use std::path::Path;

/// One evaluation question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    pub text: String,
    /// Paths (as stored in the index) of the pages that answer it.
    pub expected: Vec<String>,
}

/// A question the search did not answer in the top 5.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub question: String,
    pub expected: Vec<String>,
    /// Paths of the top results.
    pub got: Vec<String>,
}

/// Scores of one run.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub questions: usize,
    /// Share of questions with an expected page in the top 5.
    pub recall_at_5: f64,
    /// Mean reciprocal rank of the first expected page in the top 10 (0 when absent).
    pub mrr_at_10: f64,
    pub misses: Vec<Miss>,
}

/// Parses a question file's text.
pub fn parse_questions(text: &str) -> Result<Vec<Question>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((q, expected)) = line.split_once('\t') else {
            return Err(SearchError::BadRequest(format!(
                "question file line {}: expected `question<TAB>path`",
                n + 1
            )));
        };
        out.push(Question {
            text: q.trim().to_string(),
            expected: expected.split('|').map(|p| p.trim().to_string()).collect(),
        });
    }
    Ok(out)
}

/// Reads a question file.
pub fn load_questions(path: &Path) -> Result<Vec<Question>> {
    let text = std::fs::read_to_string(path).map_err(|e| SearchError::SourceUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    parse_questions(&text)
}

/// Runs every question (with typos added when `typos` is set) and scores the results.
pub fn evaluate(searcher: &Searcher, questions: &[Question], typos: bool) -> Result<EvalReport> {
    let mut found_at_5 = 0usize;
    let mut rr_sum = 0.0;
    let mut misses = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        let text = if typos {
            add_typos(&q.text, i as u64)
        } else {
            q.text.clone()
        };
        let hits = searcher.search_with_budget(&text, 10, usize::MAX)?;
        let rank = hits.iter().position(|h| q.expected.contains(&h.path));
        if let Some(r) = rank {
            rr_sum += 1.0 / (r as f64 + 1.0);
        }
        if rank.is_some_and(|r| r < 5) {
            found_at_5 += 1;
        } else {
            misses.push(Miss {
                question: text,
                expected: q.expected.clone(),
                got: hits.iter().take(5).map(|h| h.path.clone()).collect(),
            });
        }
    }
    let n = questions.len().max(1) as f64;
    Ok(EvalReport {
        questions: questions.len(),
        recall_at_5: found_at_5 as f64 / n,
        mrr_at_10: rr_sum / n,
        misses,
    })
}

/// Adds typing mistakes to a question, deterministically for a given `seed`: each word of four
/// or more letters that is not a stop word gets, with even odds, one of an adjacent swap, a
/// dropped letter, a doubled letter or a neighbouring key on a QWERTY keyboard, never on its
/// first letter (people rarely mistype that one); every question gets at least one typo.
pub fn add_typos(text: &str, seed: u64) -> String {
    let mut rng = XorShift::new(seed);
    let mut words: Vec<String> = text.split(' ').map(str::to_string).collect();
    let eligible: Vec<usize> = words
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            let letters = w.trim_matches(|c: char| !c.is_alphabetic());
            letters.chars().count() >= 4
                && letters.chars().all(|c| c.is_ascii_alphabetic())
                && !is_stopword(&letters.to_ascii_lowercase())
        })
        .map(|(i, _)| i)
        .collect();
    let mut changed = false;
    for &i in &eligible {
        if rng.next().is_multiple_of(2) {
            words[i] = mistype(&words[i], &mut rng);
            changed = true;
        }
    }
    if !changed && let Some(&i) = eligible.iter().max_by_key(|&&i| words[i].len()) {
        words[i] = mistype(&words[i], &mut rng);
    }
    words.join(" ")
}

fn mistype(word: &str, rng: &mut XorShift) -> String {
    let start = word.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(0);
    let letters: Vec<char> = word[start..]
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect();
    let rest = &word[start + letters.len()..];
    let mut l = letters.clone();
    // Never the first letter.
    let pos = 1 + (rng.next() as usize % (l.len() - 1));
    match rng.next() % 4 {
        0 if pos + 1 < l.len() => l.swap(pos, pos + 1),
        0 => l.swap(pos - 1, pos),
        1 => {
            l.remove(pos);
        }
        2 => l.insert(pos, l[pos]),
        _ => {
            let near = neighbours(l[pos].to_ascii_lowercase());
            let c = near[rng.next() as usize % near.len()];
            l[pos] = if letters[pos].is_ascii_uppercase() {
                c.to_ascii_uppercase()
            } else {
                c
            };
        }
    }
    format!(
        "{}{}{rest}",
        &word[..start],
        l.into_iter().collect::<String>()
    )
}

fn neighbours(c: char) -> &'static [char] {
    match c {
        'q' => &['w', 'a'],
        'w' => &['q', 'e', 's'],
        'e' => &['w', 'r', 'd'],
        'r' => &['e', 't', 'f'],
        't' => &['r', 'y', 'g'],
        'y' => &['t', 'u', 'h'],
        'u' => &['y', 'i', 'j'],
        'i' => &['u', 'o', 'k'],
        'o' => &['i', 'p', 'l'],
        'p' => &['o', 'l'],
        'a' => &['q', 's', 'z'],
        's' => &['a', 'd', 'w'],
        'd' => &['s', 'f', 'e'],
        'f' => &['d', 'g', 'r'],
        'g' => &['f', 'h', 't'],
        'h' => &['g', 'j', 'y'],
        'j' => &['h', 'k', 'u'],
        'k' => &['j', 'l', 'i'],
        'l' => &['k', 'o'],
        'z' => &['a', 'x'],
        'x' => &['z', 'c', 's'],
        'c' => &['x', 'v', 'd'],
        'v' => &['c', 'b', 'f'],
        'b' => &['v', 'n', 'g'],
        'n' => &['b', 'm', 'h'],
        _ => &['n', 'j'],
    }
}

/// A tiny deterministic generator: the typo set must be the same on every machine and with
/// every version of every crate.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_deterministic_and_present() {
        let q = "How do I parse command line arguments?";
        let a = add_typos(q, 7);
        assert_eq!(a, add_typos(q, 7));
        assert_ne!(a, q);
        assert!(a.starts_with("How do I "), "{a}");
        assert!(a.ends_with('?'), "{a}");
        assert_eq!(add_typos("a b c", 1), "a b c");
    }

    #[test]
    fn typos_keep_first_letters() {
        for seed in 0..50 {
            let t = add_typos("temporary directory", seed);
            let firsts: Vec<char> = t.split(' ').filter_map(|w| w.chars().next()).collect();
            assert_eq!(firsts, ['t', 'd'], "{t}");
        }
    }

    #[test]
    fn question_files_parse() -> Result<()> {
        let q = parse_questions("# c\n\nread csv\tlibrary/csv.html\nx\ta.html|b.html\n")?;
        assert_eq!(q.len(), 2);
        assert_eq!(q[1].expected, ["a.html", "b.html"]);
        assert!(parse_questions("no tab here").is_err());
        Ok(())
    }
}
