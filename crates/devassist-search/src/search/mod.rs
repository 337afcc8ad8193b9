//! Querying an index: [`Searcher`] opens an index read-only, checks it, and answers queries.
//!
//! Ranking, in order: (1) query words the index does not know are corrected against its
//! vocabulary (typos); (2) FTS5 BM25 with field weights title > headings > body picks
//! candidates, the last word also matching as a prefix while it is being typed; (3) the
//! candidates are re-ranked by rarity-weighted query coverage, phrase adjacency and heading
//! coverage; (4) when that finds fewer passages than asked for, a trigram search over titles
//! and headings fills up; (5) one hit per URL, cut to the token budget.

mod open;
mod plan;
pub(crate) mod query;
pub(crate) mod rank;
pub(crate) mod snippet;
mod typo;

use crate::error::{Result, SearchError};
use crate::text::estimate_tokens;
use open::Pool;
use rank::Matcher;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use open::IndexInfo;

/// Most results one query may ask for.
pub const MAX_LIMIT: usize = 100;

/// Tuning of a [`Searcher`].
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Results stop before their estimated tokens (title + heading + snippet) pass this; the
    /// first result is always returned.
    pub token_budget: usize,
    /// Tokens of text around the matches in each snippet (about 1.3 words per token).
    pub snippet_words: usize,
    /// Connections kept open; queries beyond this wait for a free one.
    pub connections: usize,
    /// Run SQLite's `quick_check` on open, so a corrupt file fails at start-up, not mid-query.
    pub verify_on_open: bool,
    /// Most passages BM25 scores per query (about a microsecond each): the rarest query words
    /// pick candidates until their passages add up to this. Higher finds more, slower.
    pub max_scored_rows: u64,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            token_budget: 2000,
            snippet_words: 40,
            connections: std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8)),
            verify_on_open: true,
            max_scored_rows: plan::MAX_SCORED_ROWS,
        }
    }
}

/// One search result: a passage of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Page title.
    pub title: String,
    /// Link to the passage's heading.
    pub url: String,
    /// Path of the source file below its source root.
    pub path: String,
    /// Heading path below the page title, joined with " › "; empty at the top of a page.
    pub heading: String,
    /// Text around the matches, matched words marked «like this».
    pub snippet: String,
    /// Relevance; higher is better, comparable within one query only.
    pub score: f64,
}

/// A hit with the full passage text, for grounding.
pub(crate) struct Scored {
    pub hit: Hit,
    pub body: String,
}

/// A read-only, thread-safe handle on one index file.
pub struct Searcher {
    pool: Pool,
    vocab: typo::Vocabulary,
    info: IndexInfo,
    options: SearchOptions,
    path: PathBuf,
}

/// A passage considered for the results.
struct Candidate {
    id: i64,
    score: f64,
    title: String,
    headings: String,
    path: String,
    url: String,
    body: String,
}

impl Searcher {
    /// Opens an index with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SearchOptions::default())
    }

    /// Opens an index read-only and validates it (an index of this schema, not corrupt).
    pub fn open_with(path: impl AsRef<Path>, options: SearchOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let (pool, info) = open::open(&path, &options)?;
        let vocab = pool.with(typo::Vocabulary::load)?;
        tracing::info!(
            path = %path.display(),
            name = %info.name,
            version = %info.version,
            sections = info.sections,
            "Opened docs index"
        );
        Ok(Self {
            pool,
            vocab,
            info,
            options,
            path,
        })
    }

    /// What the index holds.
    pub fn info(&self) -> &IndexInfo {
        &self.info
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options this searcher was opened with.
    pub fn options(&self) -> &SearchOptions {
        &self.options
    }

    /// The best passages for `query`, at most `limit`, within the token budget.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>> {
        self.search_with_budget(query, limit, self.options.token_budget)
    }

    /// As [`Searcher::search`] with an explicit token budget.
    pub fn search_with_budget(
        &self,
        query: &str,
        limit: usize,
        token_budget: usize,
    ) -> Result<Vec<Hit>> {
        let scored = self.search_scored(query, limit)?;
        let mut out = Vec::new();
        let mut used = 0usize;
        for s in scored {
            let cost = estimate_tokens(&s.hit.title)
                + estimate_tokens(&s.hit.heading)
                + estimate_tokens(&s.hit.snippet);
            if !out.is_empty() && used.saturating_add(cost) > token_budget {
                break;
            }
            used += cost;
            out.push(s.hit);
        }
        Ok(out)
    }

    /// Ranked hits with their passage text, no budget applied.
    pub(crate) fn search_scored(&self, query: &str, limit: usize) -> Result<Vec<Scored>> {
        if limit == 0 || limit > MAX_LIMIT {
            return Err(SearchError::BadLimit {
                field: "limit",
                got: limit as u64,
                max: MAX_LIMIT as u64,
            });
        }
        let parsed = query::parse(query)?;
        self.pool.with(|conn| self.run(conn, &parsed, limit))
    }

    fn run(&self, conn: &Connection, q: &query::Query, limit: usize) -> Result<Vec<Scored>> {
        let (searched, corrected_any) = self.spell(q);
        let prefix_last = q.prefix_last && !corrected_any;
        let weights: Vec<(String, f64)> = searched
            .iter()
            .map(|(w, rows)| (w.clone(), rank::idf(*rows, self.info.sections)))
            .collect();
        let matcher = Matcher::new(&weights);

        let want = (limit * 4).max(40);
        let terms: Vec<(&str, u32)> = searched.iter().map(|(w, r)| (w.as_str(), *r)).collect();
        let plan = plan::plan(&terms, prefix_last, self.options.max_scored_rows);
        let mut narrow = plan.narrow;
        if let Some(pair) = plan.pair
            && count_matches(conn, &pair)? <= self.options.max_scored_rows
        {
            narrow = format!("{narrow} OR ({pair})");
        }
        let mut cands = self.bm25_candidates(conn, &narrow, want)?;
        if let Some(wide) = plan.wide.filter(|_| cands.len() < limit) {
            cands = self.bm25_candidates(conn, &wide, want)?;
        }
        for c in &mut cands {
            c.score *= rank::signals(&matcher, &c.title, &c.headings, &c.body).boost();
        }
        cands.sort_by(|a, b| b.score.total_cmp(&a.score));
        dedupe_by_url(&mut cands);
        diversify(&mut cands);

        if cands.len() < limit {
            let floor = cands.last().map_or(1.0, |c| c.score);
            let seen: HashSet<i64> = cands.iter().map(|c| c.id).collect();
            let words: Vec<&str> = q.terms.iter().map(|t| t.word.as_str()).collect();
            let mut extra = self.trigram_candidates(conn, &words, want, floor)?;
            extra.retain(|c| !seen.contains(&c.id));
            cands.extend(extra);
            dedupe_by_url(&mut cands);
        }

        cands.truncate(limit);
        Ok(cands
            .into_iter()
            .map(|c| Scored {
                hit: Hit {
                    snippet: snippet::snippet(&c.body, &matcher, self.options.snippet_words),
                    title: c.title,
                    url: c.url,
                    path: c.path,
                    heading: c.headings,
                    score: (c.score * 1000.0).round() / 1000.0,
                },
                body: c.body,
            })
            .collect())
    }

    /// The words to search for, each with the number of passages it matches: words the index
    /// has never seen are replaced by the closest word it has.
    fn spell(&self, q: &query::Query) -> (Vec<(String, u32)>, bool) {
        let mut searched = Vec::with_capacity(q.terms.len());
        let mut corrected_any = false;
        for t in &q.terms {
            let (word, rows) = match self.vocab.stats(&t.word) {
                Some(s) => (t.word.clone(), s.rows),
                None => match typo::correctable(&t.word)
                    .then(|| self.vocab.correct(&t.word))
                    .flatten()
                {
                    Some((w, s)) => {
                        tracing::debug!(typed = %t.word, corrected = %w, "Corrected query word");
                        corrected_any = true;
                        (w, s.rows)
                    }
                    None => (t.word.clone(), 0),
                },
            };
            searched.push((word, rows));
        }
        (searched, corrected_any)
    }

    fn bm25_candidates(
        &self,
        conn: &Connection,
        expr: &str,
        want: usize,
    ) -> Result<Vec<Candidate>> {
        let mut stmt = conn.prepare_cached(
            "SELECT rowid, rank FROM sections_fts WHERE sections_fts MATCH ?1 ORDER BY rank LIMIT ?2",
        )?;
        let ids = stmt
            .query_map(rusqlite::params![expr, want as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        // FTS5 ranks are negative BM25 scores: more negative is better.
        ids.into_iter()
            .map(|(id, rank)| load(conn, id, -rank))
            .collect()
    }

    /// Fuzzy fallback: passages whose title or headings share trigrams with the query words.
    /// Scored below `floor` so they follow every BM25 result.
    fn trigram_candidates(
        &self,
        conn: &Connection,
        words: &[&str],
        want: usize,
        floor: f64,
    ) -> Result<Vec<Candidate>> {
        let exprs: Vec<String> = words.iter().filter_map(|w| query::trigrams(w)).collect();
        if exprs.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmt = conn.prepare_cached(
            "SELECT rowid, rank FROM sections_tri WHERE sections_tri MATCH ?1 ORDER BY rank LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(rusqlite::params![exprs.join(" OR "), want as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)?))
            })?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let best = rows.first().map_or(1.0, |(_, r)| -r).max(f64::EPSILON);
        let mut out = Vec::new();
        for (id, rank) in rows {
            let c = load(conn, id, floor * 0.5 * (-rank / best))?;
            if fuzzy_heading_match(words, &c.title, &c.headings) {
                out.push(c);
            }
        }
        Ok(out)
    }
}

/// Passages an expression matches, counted without ranking them (tens of nanoseconds each).
fn count_matches(conn: &Connection, expr: &str) -> Result<u64> {
    let mut stmt =
        conn.prepare_cached("SELECT count(*) FROM sections_fts WHERE sections_fts MATCH ?1")?;
    Ok(stmt.query_row([expr], |r| r.get::<_, i64>(0))?.max(0) as u64)
}

fn load(conn: &Connection, id: i64, score: f64) -> Result<Candidate> {
    let mut stmt =
        conn.prepare_cached("SELECT title, headings, path, url, body FROM sections WHERE id = ?1")?;
    Ok(stmt.query_row([id], |r| {
        Ok(Candidate {
            id,
            score,
            title: r.get(0)?,
            headings: r.get(1)?,
            path: r.get(2)?,
            url: r.get(3)?,
            body: r.get(4)?,
        })
    })?)
}

/// Whether a query word is close to a word of the title or headings: contained in it
/// (`dumps` in `json.dumps`), or similar enough to be a misspelling of it. Sharing a few
/// trigrams is not enough: every title shares some with any word.
fn fuzzy_heading_match(words: &[&str], title: &str, headings: &str) -> bool {
    let targets: Vec<String> = crate::text::words(title)
        .chain(crate::text::words(headings))
        .collect();
    words.iter().filter(|w| w.chars().count() >= 3).any(|w| {
        targets.iter().any(|t| {
            t.contains(*w)
                || (w.chars().count() >= 4 && strsim::normalized_damerau_levenshtein(w, t) >= 0.75)
        })
    })
}

/// Each further passage of a page already in the list counts this much less, so that five
/// passages of one long page do not push every other page out of the top results.
const PAGE_REPEAT_FACTOR: f64 = 0.6;

/// Applies [`PAGE_REPEAT_FACTOR`] and re-sorts; `cands` must be sorted best first.
fn diversify(cands: &mut [Candidate]) {
    let mut per_page: HashMap<&str, i32> = HashMap::new();
    let mut factors = Vec::with_capacity(cands.len());
    for c in cands.iter() {
        let seen = per_page.entry(c.path.as_str()).or_default();
        factors.push(PAGE_REPEAT_FACTOR.powi(*seen));
        *seen += 1;
    }
    for (c, f) in cands.iter_mut().zip(factors) {
        c.score *= f;
    }
    cands.sort_by(|a, b| b.score.total_cmp(&a.score));
}

/// Keeps the best passage of each URL: a long section cut into passages is one result.
fn dedupe_by_url(cands: &mut Vec<Candidate>) {
    let mut seen = HashSet::new();
    cands.retain(|c| seen.insert(c.url.clone()));
}
