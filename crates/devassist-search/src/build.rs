//! Building an index file from documentation sources. The index is written to a temporary
//! file beside the output and renamed into place at the end, so a failed build never leaves
//! a half-written index where a server would load it.

use crate::error::{Result, SearchError};
use crate::parse::{self, Section};
use crate::schema::{self, meta};
use crate::search::query::quote;
use crate::source::{self, Filter, SourceFile};
use crate::text::words;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rusqlite::{Connection, Transaction, params};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How to build an index.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Index name, used by the search API to pick an index (`python`, `gitlab`).
    pub name: String,
    /// Version of the documentation (`3.11`, `17.6`).
    pub version: String,
    /// Prefix for result URLs (`https://docs.python.org/3.11`); without it URLs are paths.
    pub base_url: Option<String>,
    /// Glob patterns of paths to leave out (see `--exclude`).
    pub exclude: Vec<String>,
    /// Longest passage in words; longer sections are cut at paragraph boundaries.
    pub max_section_words: usize,
    /// Draw a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            name: "docs".into(),
            version: String::new(),
            base_url: None,
            exclude: Vec::new(),
            max_section_words: 300,
            progress: false,
        }
    }
}

/// What a build produced.
#[derive(Debug, Clone, Serialize)]
pub struct IndexStats {
    pub files: usize,
    pub sections: usize,
    /// Files that could not be read (logged as warnings).
    pub skipped: usize,
    /// Size of the index file in bytes.
    pub index_bytes: u64,
    #[serde(serialize_with = "as_secs")]
    pub elapsed: Duration,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Reads every source (directories, files, `.tar.gz`/`.tgz`/`.zip` archives) and writes the
/// index to `out`, replacing any file there.
pub fn build_index<P: AsRef<Path>>(
    sources: &[P],
    out: &Path,
    opts: &IndexOptions,
) -> Result<IndexStats> {
    let started = Instant::now();
    if sources.is_empty() {
        return Err(SearchError::BadRequest(
            "no documentation source given".into(),
        ));
    }
    let filter = Filter::new(&opts.exclude)?;
    let write_err = |reason: String| SearchError::Write {
        path: out.to_path_buf(),
        reason,
    };
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".devassist-index-")
        .suffix(".sqlite")
        .tempfile_in(&dir)
        .map_err(|e| write_err(e.to_string()))?;
    let mut conn = Connection::open(tmp.path()).map_err(|e| write_err(e.to_string()))?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY;",
    )?;
    conn.pragma_update(None, "application_id", schema::APPLICATION_ID)?;
    conn.execute_batch(schema::CREATE)?;

    let progress = progress_bar(opts.progress);
    let tx = conn.transaction()?;
    let mut writer = Writer::new(&tx, opts)?;
    let mut files = 0;
    let mut skipped = 0;
    for src in sources {
        let src = src.as_ref();
        progress.set_message(src.display().to_string());
        let counts = source::visit(src, &filter, &progress, &mut |file| writer.add(&file))?;
        files += counts.files;
        skipped += counts.skipped;
    }
    let sections = writer.sections;
    if sections == 0 {
        return Err(SearchError::EmptySource {
            path: sources[0].as_ref().to_path_buf(),
        });
    }
    progress.set_message("writing search tables");
    let vocab = std::mem::take(&mut writer.vocab);
    drop(writer);
    finish(&tx, vocab, opts, files, sections, started)?;
    tx.commit()?;
    conn.execute_batch("VACUUM;")?;
    drop(conn);
    progress.finish_and_clear();

    tmp.persist(out)
        .map_err(|e| write_err(e.error.to_string()))?;
    let index_bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    let stats = IndexStats {
        files,
        sections,
        skipped,
        index_bytes,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        files,
        sections,
        skipped,
        index_bytes,
        seconds = stats.elapsed.as_secs_f64(),
        out = %out.display(),
        "Built docs index"
    );
    Ok(stats)
}

/// Inserts sections as documents arrive and counts word document frequencies.
struct Writer<'a> {
    insert: rusqlite::Statement<'a>,
    base_url: Option<String>,
    max_words: usize,
    vocab: HashMap<String, u32>,
    sections: usize,
}

impl<'a> Writer<'a> {
    fn new(conn: &'a Connection, opts: &IndexOptions) -> Result<Self> {
        Ok(Self {
            insert: conn.prepare(
                "INSERT INTO sections (title, headings, path, url, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            base_url: opts.base_url.clone(),
            max_words: opts.max_section_words,
            vocab: HashMap::new(),
            sections: 0,
        })
    }

    fn add(&mut self, file: &SourceFile) -> Result<()> {
        for s in parse::sections(file, self.base_url.as_deref(), self.max_words) {
            self.count_words(&s);
            self.insert
                .execute(params![s.title, s.headings, s.path, s.url, s.body])?;
            self.sections += 1;
        }
        Ok(())
    }

    fn count_words(&mut self, s: &Section) {
        let mut seen = HashSet::new();
        for w in words(&s.title)
            .chain(words(&s.headings))
            .chain(words(&s.body))
        {
            if is_vocab_word(&w) && seen.insert(w.clone()) {
                *self.vocab.entry(w).or_default() += 1;
            }
        }
    }
}

/// Words the vocabulary keeps: all but very long tokens (hashes, base64 blobs), which no one
/// types and which would only bloat it. Numbers and short words are kept so that every query
/// word has a document frequency.
fn is_vocab_word(w: &str) -> bool {
    w.len() <= 40
}

fn finish(
    tx: &Transaction<'_>,
    vocab: HashMap<String, u32>,
    opts: &IndexOptions,
    files: usize,
    sections: usize,
    started: Instant,
) -> Result<()> {
    let (t, h, b) = schema::FIELD_WEIGHTS;
    tx.execute_batch(&format!(
        "INSERT INTO sections_fts(sections_fts) VALUES ('rebuild');
         INSERT INTO sections_fts(sections_fts, rank) VALUES ('rank', 'bm25({t:.1}, {h:.1}, {b:.1})');
         INSERT INTO sections_fts(sections_fts) VALUES ('optimize');
         INSERT INTO sections_tri(sections_tri) VALUES ('rebuild');
         INSERT INTO sections_tri(sections_tri) VALUES ('optimize');"
    ))?;
    {
        // `rows`: passages the word matches once SQLite has stemmed it (`named` also matches
        // `name`, `names`), which is what a query on it costs; counted once here so queries
        // can plan without counting.
        let mut count =
            tx.prepare("SELECT count(*) FROM sections_fts WHERE sections_fts MATCH ?1")?;
        let mut insert = tx.prepare("INSERT INTO vocab (term, df, rows) VALUES (?1, ?2, ?3)")?;
        let mut terms: Vec<(String, u32)> = vocab.into_iter().collect();
        terms.sort();
        for (term, df) in terms {
            let rows: i64 = count.query_row([quote(&term)], |r| r.get(0))?;
            insert.execute(params![term, df, rows])?;
        }
    }
    let built_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let entries = [
        (meta::NAME, opts.name.clone()),
        (meta::VERSION, opts.version.clone()),
        (meta::SECTIONS, sections.to_string()),
        (meta::FILES, files.to_string()),
        (meta::BUILT_AT, built_at),
        (
            meta::BUILD_SECONDS,
            format!("{:.3}", started.elapsed().as_secs_f64()),
        ),
        (meta::SCHEMA_VERSION, schema::SCHEMA_VERSION.to_string()),
        (meta::BASE_URL, opts.base_url.clone().unwrap_or_default()),
        (
            meta::BUILDER,
            format!("devassist {}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    let mut insert = tx.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
    for (k, v) in entries {
        insert.execute(params![k, v])?;
    }
    tx.pragma_update(None, "user_version", schema::SCHEMA_VERSION)?;
    Ok(())
}

fn progress_bar(enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {wide_msg}",
    ) {
        bar.set_style(style);
    }
    bar
}
