//! The request → response functions the HTTP routes wrap, with real JSON bodies, and the
//! numbered sources used to ground chat answers.

mod common;

use common::{BASE_URL, TestResult, build_fixture};
use devassist_search::api::{DocsIndexes, DocsSearchRequest, GitlabDocsRequest};
use devassist_search::{ErrorClass, SearchError, Searcher};
use serde_json::{Value, json};

fn indexes(dir: &std::path::Path) -> TestResult<DocsIndexes> {
    let (index, _) = build_fixture(dir)?;
    Ok(DocsIndexes::open_all(&[index])?)
}

#[test]
fn docs_search_request_to_response() -> TestResult {
    let dir = tempfile::tempdir()?;
    let set = indexes(dir.path())?;
    let req: DocsSearchRequest = serde_json::from_value(
        json!({"query": "proxy certificate", "limit": 2, "index": "widgetry"}),
    )?;
    let body = serde_json::to_value(set.search_docs(&req)?)?;
    assert_eq!(body["index"], "widgetry");
    let results = body["results"]
        .as_array()
        .ok_or("results is not an array")?;
    assert!(!results.is_empty() && results.len() <= 2);
    let first = &results[0];
    assert_eq!(
        first["url"],
        format!("{BASE_URL}guide/proxy.html#certificates")
    );
    assert_eq!(first["title"], "Running behind a proxy");
    assert_eq!(first["path"], "guide/proxy.md");
    assert!(first["snippet"].as_str().is_some_and(|s| s.contains('«')));
    assert!(first["score"].as_f64().is_some_and(|s| s > 0.0));

    // No index named: the first one answers; an unknown name is a 404-class error.
    let req: DocsSearchRequest = serde_json::from_value(json!({"query": "proxy"}))?;
    assert_eq!(set.search_docs(&req)?.index, "widgetry");
    let req: DocsSearchRequest =
        serde_json::from_value(json!({"query": "proxy", "index": "nope"}))?;
    let err = set.search_docs(&req).err();
    assert!(
        matches!(&err, Some(e @ SearchError::UnknownIndex(_)) if e.class() == ErrorClass::NotFound)
    );
    Ok(())
}

#[test]
fn gitlab_docs_request_to_response() -> TestResult {
    let dir = tempfile::tempdir()?;
    let set = indexes(dir.path())?;
    let req: GitlabDocsRequest = serde_json::from_value(json!({
        "type": "search-docs",
        "metadata": {"source": "GitLab EE", "version": "17.8.0"},
        "payload": {"query": "install with the package manager", "page_size": 3}
    }))?;
    let body: Value = serde_json::to_value(set.gitlab_docs(&req)?)?;
    assert_eq!(body["metadata"]["provider"], "sqlite");
    assert!(
        body["metadata"]["timestamp"]
            .as_i64()
            .is_some_and(|t| t > 1_700_000_000)
    );
    let results = body["response"]["results"]
        .as_array()
        .ok_or("no results array")?;
    assert!(!results.is_empty() && results.len() <= 3);
    let first = &results[0];
    assert_eq!(first["id"], "/guide/install.md");
    assert_eq!(first["metadata"]["filename"], "/guide/install.md");
    assert_eq!(
        first["metadata"]["source_url"],
        format!("{BASE_URL}guide/install.html#install-with-the-package-manager")
    );
    let content = first["content"].as_str().ok_or("no content")?;
    assert!(
        content.starts_with("# Installing Widgetry\n\n## Install with the package manager\n\n")
    );
    assert!(content.contains("apt-get install widgetry"));

    let bad: GitlabDocsRequest =
        serde_json::from_value(json!({"payload": {"query": "x", "page_size": 50}}))?;
    assert!(matches!(
        set.gitlab_docs(&bad),
        Err(SearchError::BadLimit { .. })
    ));
    let empty: GitlabDocsRequest = serde_json::from_value(json!({"payload": {"query": "  "}}))?;
    assert!(matches!(
        set.gitlab_docs(&empty),
        Err(SearchError::EmptyQuery)
    ));
    Ok(())
}

#[test]
fn grounding_numbers_sources_within_budget() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    let g = s.ground("how do I trust the proxy certificate", 3, 400)?;
    assert!(!g.sources.is_empty() && g.sources.len() <= 3);
    assert_eq!(g.sources[0].n, 1);
    assert_eq!(
        g.sources[0].url,
        format!("{BASE_URL}guide/proxy.html#certificates")
    );
    assert!(g.context.starts_with(&format!(
        "[1] Running behind a proxy › Certificates — {BASE_URL}guide/proxy.html#certificates\n"
    )));
    assert!(g.context.contains("widgetry certs add ca.pem"));
    assert!(
        !g.context.contains('«'),
        "grounding text carries no highlight marks"
    );
    for (i, src) in g.sources.iter().enumerate() {
        assert!(g.context.contains(&format!("[{}] ", i + 1)));
        assert_eq!(src.n, i + 1);
    }
    assert!(g.prompt_block().contains("[n]"));
    assert!(devassist_search::text::estimate_tokens(&g.context) <= 420);
    Ok(())
}
