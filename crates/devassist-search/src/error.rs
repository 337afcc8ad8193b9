//! The one error type of docs indexing and search, with a coarse class the HTTP layer maps to
//! a status code. Messages are written for the person who gave the input: they name the file
//! or the limit and say what to do.

use std::path::PathBuf;

/// Who has to act on an error, coarse enough to pick an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request or the command-line input is wrong (400).
    BadRequest,
    /// A named index does not exist (404).
    NotFound,
    /// The index file or the machine is at fault (500).
    Internal,
}

/// Everything that can go wrong while building or querying a docs index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("query is empty")]
    EmptyQuery,
    #[error("query has no searchable words (only punctuation or symbols)")]
    NoSearchableWords,
    #[error("query is too long: {len} bytes (at most {max})")]
    QueryTooLong { len: usize, max: usize },
    #[error("{field} must be between 1 and {max}, got {got}")]
    BadLimit {
        field: &'static str,
        got: u64,
        max: u64,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown docs index '{0}'")]
    UnknownIndex(String),
    #[error("no docs index is loaded")]
    NoIndex,
    #[error("cannot read source {path}: {reason}")]
    SourceUnreadable { path: PathBuf, reason: String },
    #[error(
        "no documents found in {path} (looked for .md, .markdown, .html, .htm, .txt, .rst \
         files, also inside .tar.gz, .tgz and .zip archives)"
    )]
    EmptySource { path: PathBuf },
    #[error("cannot read archive {path}: {reason}")]
    BadArchive { path: PathBuf, reason: String },
    #[error("cannot write index {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("docs index {path} does not exist")]
    IndexMissing { path: PathBuf },
    #[error("{path} is not a devassist docs index: {reason}")]
    NotAnIndex { path: PathBuf, reason: String },
    #[error(
        "{path} uses docs index schema {found}, this devassist reads schema {expected}: \
         rebuild it with `devassist docs index`"
    )]
    SchemaMismatch {
        path: PathBuf,
        found: i64,
        expected: i64,
    },
    #[error("docs index query failed: {0}")]
    Database(String),
}

impl SearchError {
    /// Who has to act on this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::EmptyQuery
            | Self::NoSearchableWords
            | Self::QueryTooLong { .. }
            | Self::BadLimit { .. }
            | Self::BadRequest(_)
            | Self::SourceUnreadable { .. }
            | Self::EmptySource { .. }
            | Self::BadArchive { .. } => ErrorClass::BadRequest,
            Self::UnknownIndex(_) | Self::IndexMissing { .. } | Self::NoIndex => {
                ErrorClass::NotFound
            }
            Self::Write { .. }
            | Self::NotAnIndex { .. }
            | Self::SchemaMismatch { .. }
            | Self::Database(_) => ErrorClass::Internal,
        }
    }
}

impl From<rusqlite::Error> for SearchError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Database(e.to_string())
    }
}

/// Shorthand used across the crate.
pub type Result<T, E = SearchError> = std::result::Result<T, E>;
