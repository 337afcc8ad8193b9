//! `[docs]`: offline documentation indexes (built with `devassist docs index`) for the search
//! API and for grounding chat answers.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
pub struct RawDocs {
    /// Index files to load at start-up; each is named by its own metadata (`--name`).
    #[serde(default)]
    pub indexes: Vec<String>,
    /// Ground chat answers in this index (by name): the best passages are added to the
    /// prompt as numbered sources. Absent: chat is not grounded.
    pub chat_index: Option<String>,
    /// Sources added to a grounded chat prompt at most. Default 4.
    pub chat_sources: Option<usize>,
    /// Tokens of source text a grounded chat prompt gets at most. Default 1500.
    pub chat_token_budget: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct DocsSettings {
    pub indexes: Vec<PathBuf>,
    pub chat_index: Option<String>,
    pub chat_sources: usize,
    pub chat_token_budget: usize,
}

impl Default for DocsSettings {
    fn default() -> Self {
        Self {
            indexes: Vec::new(),
            chat_index: None,
            chat_sources: 4,
            chat_token_budget: 1500,
        }
    }
}

pub fn validate(raw: RawDocs, p: &mut impl FnMut(String, String)) -> DocsSettings {
    let mut out = DocsSettings::default();
    for (i, path) in raw.indexes.iter().enumerate() {
        if path.trim().is_empty() {
            p(format!("docs.indexes[{i}]"), "is empty".into());
        }
    }
    out.indexes = raw.indexes.into_iter().map(PathBuf::from).collect();
    if raw.chat_index.is_some() && out.indexes.is_empty() {
        p(
            "docs.chat_index".into(),
            "needs at least one index in docs.indexes".into(),
        );
    }
    out.chat_index = raw.chat_index;
    if let Some(n) = raw.chat_sources {
        if !(1..=20).contains(&n) {
            p(
                "docs.chat_sources".into(),
                "must be between 1 and 20".into(),
            );
        }
        out.chat_sources = n;
    }
    if let Some(n) = raw.chat_token_budget {
        if n < 100 {
            p(
                "docs.chat_token_budget".into(),
                "must be at least 100".into(),
            );
        }
        out.chat_token_budget = n;
    }
    out
}
