//! Request and response bodies of the search routes, and the functions that turn one into the
//! other, so the HTTP layer only decodes, calls and encodes:
//!
//! - `POST /v1/search/docs`: [`DocsSearchRequest`] → [`DocsSearchResponse`].
//! - `POST /v1/search/gitlab-docs` (GitLab AI Gateway): [`GitlabDocsRequest`] →
//!   [`GitlabDocsResponse`], with GitLab's limits (`page_size` 1–20, default 4; query at most
//!   400,000 bytes; contents capped at 8,000 tokens).
//!
//! Both are blocking calls of about a millisecond; call them from `spawn_blocking` or directly.

use crate::error::{Result, SearchError};
use crate::search::{Hit, IndexInfo, Searcher};
use crate::text::estimate_tokens;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// Results returned by `/v1/search/docs` when the request names no limit.
pub const DEFAULT_LIMIT: usize = 5;
/// `page_size` bounds and default of GitLab's route.
pub const GITLAB_MAX_PAGE_SIZE: u64 = 20;
pub const GITLAB_DEFAULT_PAGE_SIZE: u64 = 4;
/// GitLab caps the documents it returns at this many tokens.
pub const GITLAB_TOKEN_CAP: usize = 8000;
/// GitLab's length limit for `type`, `metadata.source` and `metadata.version`.
const GITLAB_FIELD_MAX: usize = 100;

/// Body of `POST /v1/search/docs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocsSearchRequest {
    pub query: String,
    /// 1 to [`crate::MAX_LIMIT`]; [`DEFAULT_LIMIT`] when absent.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Index name; the first loaded index when absent.
    #[serde(default)]
    pub index: Option<String>,
}

/// Response of `POST /v1/search/docs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocsSearchResponse {
    /// The index that answered.
    pub index: String,
    pub results: Vec<Hit>,
}

/// Body of `POST /v1/search/gitlab-docs`, as GitLab Rails sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitlabDocsRequest {
    /// `search-docs`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub metadata: Option<GitlabDocsMetadata>,
    pub payload: GitlabDocsPayload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitlabDocsMetadata {
    /// `GitLab EE`; also used to pick an index of that name when one is loaded.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitlabDocsPayload {
    pub query: String,
    #[serde(default)]
    pub page_size: Option<u64>,
}

/// Response of `POST /v1/search/gitlab-docs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitlabDocsResponse {
    pub response: GitlabDocsResults,
    pub metadata: GitlabResponseMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitlabDocsResults {
    pub results: Vec<GitlabDocsResult>,
}

/// One GitLab result: `id` and `metadata.filename` are the page path with a leading `/`
/// (GitLab's shape); `content` is the passage as Markdown-ish text (title, heading, body)
/// rather than GitLab's whole file, so more distinct passages fit the token cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitlabDocsResult {
    pub id: String,
    pub content: String,
    pub metadata: GitlabResultMetadata,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitlabResultMetadata {
    pub filename: String,
    pub title: String,
    pub source_url: String,
    pub heading: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitlabResponseMetadata {
    /// Always `sqlite`, as GitLab's self-hosted backend.
    pub provider: String,
    /// Unix seconds.
    pub timestamp: i64,
}

/// The loaded indexes, by name; the first one added is the default.
#[derive(Default)]
pub struct DocsIndexes {
    indexes: Vec<Arc<Searcher>>,
}

impl DocsIndexes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens every index file; names come from the indexes' metadata.
    pub fn open_all<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let mut set = Self::new();
        for p in paths {
            set.add(Searcher::open(p)?)?;
        }
        Ok(set)
    }

    /// Adds an index; two indexes with the same name are refused.
    pub fn add(&mut self, searcher: Searcher) -> Result<()> {
        let name = &searcher.info().name;
        if self.indexes.iter().any(|s| &s.info().name == name) {
            return Err(SearchError::BadRequest(format!(
                "two docs indexes are named '{name}'; rebuild one with another --name"
            )));
        }
        self.indexes.push(Arc::new(searcher));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.indexes.is_empty()
    }

    /// What each loaded index holds, default first.
    pub fn infos(&self) -> Vec<IndexInfo> {
        self.indexes.iter().map(|s| s.info().clone()).collect()
    }

    /// The named index, or the default one.
    pub fn get(&self, name: Option<&str>) -> Result<&Arc<Searcher>> {
        match name {
            Some(n) => self
                .indexes
                .iter()
                .find(|s| s.info().name == n)
                .ok_or_else(|| SearchError::UnknownIndex(n.to_string())),
            None => self.indexes.first().ok_or(SearchError::NoIndex),
        }
    }

    /// Answers `POST /v1/search/docs`.
    pub fn search_docs(&self, req: &DocsSearchRequest) -> Result<DocsSearchResponse> {
        let searcher = self.get(req.index.as_deref())?;
        let results = searcher.search(&req.query, req.limit.unwrap_or(DEFAULT_LIMIT))?;
        Ok(DocsSearchResponse {
            index: searcher.info().name.clone(),
            results,
        })
    }

    /// Answers `POST /v1/search/gitlab-docs`. Like GitLab's self-hosted gateway, no loaded
    /// index gives an empty result list rather than an error.
    pub fn gitlab_docs(&self, req: &GitlabDocsRequest) -> Result<GitlabDocsResponse> {
        validate_gitlab(req)?;
        let page_size = req.payload.page_size.unwrap_or(GITLAB_DEFAULT_PAGE_SIZE);
        let source = req.metadata.as_ref().and_then(|m| m.source.as_deref());
        let searcher = source
            .and_then(|s| {
                self.indexes
                    .iter()
                    .find(|i| i.info().name.eq_ignore_ascii_case(s))
            })
            .or_else(|| self.indexes.first());
        let mut results = Vec::new();
        if let Some(searcher) = searcher {
            let mut used = 0usize;
            // `page_size` was validated to 1..=20.
            for s in searcher.search_scored(&req.payload.query, page_size as usize)? {
                let content = gitlab_content(&s.hit, &s.body);
                let cost = estimate_tokens(&content);
                if !results.is_empty() && used + cost > GITLAB_TOKEN_CAP {
                    break;
                }
                used += cost;
                let filename = format!("/{}", s.hit.path);
                results.push(GitlabDocsResult {
                    id: filename.clone(),
                    content,
                    metadata: GitlabResultMetadata {
                        filename,
                        title: s.hit.title,
                        source_url: s.hit.url,
                        heading: s.hit.heading,
                    },
                });
            }
        } else {
            // Still reject what GitLab rejects, so clients see the same errors either way.
            crate::search::query::parse(&req.payload.query)?;
        }
        Ok(GitlabDocsResponse {
            response: GitlabDocsResults { results },
            metadata: GitlabResponseMetadata {
                provider: "sqlite".into(),
                timestamp: chrono::Utc::now().timestamp(),
            },
        })
    }
}

fn validate_gitlab(req: &GitlabDocsRequest) -> Result<()> {
    let too_long = |field: &str| {
        SearchError::BadRequest(format!(
            "{field} must be at most {GITLAB_FIELD_MAX} characters"
        ))
    };
    if req
        .kind
        .as_ref()
        .is_some_and(|k| k.chars().count() > GITLAB_FIELD_MAX)
    {
        return Err(too_long("type"));
    }
    if let Some(m) = &req.metadata {
        if m.source
            .as_ref()
            .is_some_and(|s| s.chars().count() > GITLAB_FIELD_MAX)
        {
            return Err(too_long("metadata.source"));
        }
        if m.version
            .as_ref()
            .is_some_and(|s| s.chars().count() > GITLAB_FIELD_MAX)
        {
            return Err(too_long("metadata.version"));
        }
    }
    match req.payload.page_size {
        Some(n) if !(1..=GITLAB_MAX_PAGE_SIZE).contains(&n) => Err(SearchError::BadLimit {
            field: "payload.page_size",
            got: n,
            max: GITLAB_MAX_PAGE_SIZE,
        }),
        _ => Ok(()),
    }
}

fn gitlab_content(hit: &Hit, body: &str) -> String {
    if hit.heading.is_empty() {
        format!("# {}\n\n{body}", hit.title)
    } else {
        format!("# {}\n\n## {}\n\n{body}", hit.title, hit.heading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_request_shape_parses() -> std::result::Result<(), serde_json::Error> {
        let req: GitlabDocsRequest = serde_json::from_str(
            r#"{"type":"search-docs","metadata":{"source":"GitLab EE","version":"17.8.0"},
                "payload":{"query":"create issue","page_size":4}}"#,
        )?;
        assert_eq!(req.kind.as_deref(), Some("search-docs"));
        assert_eq!(req.payload.page_size, Some(4));
        Ok(())
    }

    #[test]
    fn gitlab_limits_are_enforced() {
        let req = |page_size: Option<u64>, kind: &str| GitlabDocsRequest {
            kind: Some(kind.into()),
            metadata: None,
            payload: GitlabDocsPayload {
                query: "x".into(),
                page_size,
            },
        };
        let empty = DocsIndexes::new();
        assert!(matches!(
            empty.gitlab_docs(&req(Some(0), "t")),
            Err(SearchError::BadLimit { .. })
        ));
        assert!(matches!(
            empty.gitlab_docs(&req(Some(21), "t")),
            Err(SearchError::BadLimit { .. })
        ));
        assert!(matches!(
            empty.gitlab_docs(&req(None, &"t".repeat(101))),
            Err(SearchError::BadRequest(_))
        ));
        let ok = empty.gitlab_docs(&req(None, "search-docs"));
        assert!(ok.is_ok_and(|r| r.response.results.is_empty() && r.metadata.provider == "sqlite"));
    }

    #[test]
    fn docs_request_rejects_unknown_fields() {
        assert!(serde_json::from_str::<DocsSearchRequest>(r#"{"query":"x","limitt":3}"#).is_err());
        let r: std::result::Result<DocsSearchRequest, _> = serde_json::from_str(r#"{"query":"x"}"#);
        assert!(r.is_ok_and(|r| r.limit.is_none() && r.index.is_none()));
    }

    #[test]
    fn no_index_is_a_clear_error() {
        let req = DocsSearchRequest {
            query: "x".into(),
            limit: None,
            index: None,
        };
        assert!(matches!(
            DocsIndexes::new().search_docs(&req),
            Err(SearchError::NoIndex)
        ));
    }
}
