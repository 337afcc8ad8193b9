//! The on-disk layout of a docs index: one SQLite file, read-only once built.
//!
//! - `sections`: one row per passage (title, heading path, path, URL, cleaned body).
//! - `sections_fts`: FTS5 over title, headings and body with Porter stemming; its `rank` is
//!   BM25 with the column weights below, stored in the index so every reader ranks the same.
//! - `sections_tri`: FTS5 trigram index over title and headings, for the fuzzy fallback.
//! - `vocab`: every indexed word with its document frequency (`df`, the word itself) and the
//!   passages its stem matches (`rows`), for correcting misspelt query words and for choosing
//!   which query words pick candidates.
//! - `meta`: name, version, counts, build time, schema version.

/// `PRAGMA application_id` of a devassist docs index ("dvas"), so any other SQLite file is
/// recognised as not an index.
pub(crate) const APPLICATION_ID: i64 = 0x6476_6173;

/// `PRAGMA user_version`; bump when the layout or the cleaning changes.
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// BM25 weights of the `sections_fts` columns: title, headings, body.
pub(crate) const FIELD_WEIGHTS: (f64, f64, f64) = (10.0, 4.0, 1.0);

pub(crate) const CREATE: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sections (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    headings TEXT NOT NULL,
    path TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE VIRTUAL TABLE sections_fts USING fts5(
    title, headings, body,
    content = 'sections', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE sections_tri USING fts5(
    title, headings,
    content = 'sections', content_rowid = 'id',
    tokenize = 'trigram remove_diacritics 1'
);
CREATE TABLE vocab (
    term TEXT PRIMARY KEY,
    df INTEGER NOT NULL,
    rows INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Tables every index must have; checked when an index is opened.
pub(crate) const REQUIRED_TABLES: &[&str] =
    &["meta", "sections", "sections_fts", "sections_tri", "vocab"];

/// Keys of the `meta` table.
pub(crate) mod meta {
    pub const NAME: &str = "name";
    pub const VERSION: &str = "version";
    pub const SECTIONS: &str = "sections";
    pub const FILES: &str = "files";
    pub const BUILT_AT: &str = "built_at";
    pub const BUILD_SECONDS: &str = "build_seconds";
    pub const SCHEMA_VERSION: &str = "schema_version";
    pub const BASE_URL: &str = "base_url";
    pub const BUILDER: &str = "builder";
}
