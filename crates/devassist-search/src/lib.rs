//! Offline documentation search for devassist: builds SQLite FTS5 indexes from Markdown,
//! HTML and text trees or archives, and answers queries with BM25 ranking, typo correction
//! and snippets. Indexes are single read-only files; a [`Searcher`] is `Send + Sync` and
//! cheap to query from an async server (queries take about a millisecond: call it directly
//! or through `spawn_blocking`).
//!
//! This crate knows nothing of HTTP: [`api`] turns request bodies into response bodies so the
//! server's routes stay thin, and [`grounding`] formats results as numbered chat sources.

pub mod api;
mod build;
mod error;
pub mod eval;
pub mod grounding;
mod parse;
mod schema;
mod search;
mod source;
pub mod text;

pub use build::{IndexOptions, IndexStats, build_index};
pub use error::{ErrorClass, Result, SearchError};
pub use search::snippet::{MARK_CLOSE, MARK_OPEN};
pub use search::{Hit, IndexInfo, MAX_LIMIT, SearchOptions, Searcher};
