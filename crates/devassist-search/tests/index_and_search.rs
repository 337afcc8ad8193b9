//! Building an index from the fixture tree and from archives of it, then searching it: titles,
//! heading paths, anchors, snippets, typos, prefixes, budgets, and query-syntax injection.

mod common;

use common::{BASE_URL, TestResult, build_fixture, fixture_dir, options};
use devassist_search::{SearchError, Searcher, build_index};
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn fixture_tree_is_indexed_with_metadata() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, stats) = build_fixture(dir.path())?;
    // install.md, proxy.md, client.html, changelog.txt; not .hidden/, _build/ or logo.png.
    assert_eq!(stats.files, 4);
    assert!(stats.sections >= 9, "{stats:?}");
    assert!(stats.index_bytes > 0);
    let s = Searcher::open(&index)?;
    let info = s.info();
    assert_eq!(info.name, "widgetry");
    assert_eq!(info.version, "2.0");
    assert_eq!(info.sections, stats.sections as u64);
    assert_eq!(info.files, 4);
    assert_eq!(info.schema_version, 1);
    assert!(info.built_at.ends_with('Z'), "{}", info.built_at);
    Ok(())
}

#[test]
fn markdown_sections_have_heading_paths_and_anchors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    let hits = s.search("build from source zlib headers", 3)?;
    let top = &hits[0];
    assert_eq!(top.title, "Installing Widgetry");
    assert_eq!(top.heading, "Build from source");
    assert_eq!(top.path, "guide/install.md");
    assert_eq!(
        top.url,
        format!("{BASE_URL}guide/install.html#build-from-source")
    );
    assert!(top.snippet.contains("«zlib» «headers»"), "{}", top.snippet);

    let hits = s.search("configure prefix opt", 1)?;
    assert_eq!(hits[0].heading, "Build from source › Configure the build");
    assert!(hits[0].url.ends_with("#configure"), "{}", hits[0].url);
    Ok(())
}

#[test]
fn html_main_content_is_indexed_without_chrome() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    let hits = s.search("open a connection pool", 3)?;
    assert_eq!(hits[0].title, "Client API");
    assert_eq!(hits[0].heading, "Timeouts and retries › client.connect");
    assert_eq!(
        hits[0].url,
        format!("{BASE_URL}api/client.html#client.connect")
    );
    let hits = s.search("exponential backoff", 3)?;
    assert!(
        hits[0].url.ends_with("api/client.html#timeouts"),
        "{}",
        hits[0].url
    );
    assert!(!hits[0].snippet.contains('¶'));
    for noise in [
        "analytics tracking",
        "Copyright authors",
        "site navigation home",
    ] {
        let hits = s.search(noise, 5)?;
        assert!(
            hits.iter().all(|h| !h
                .snippet
                .to_lowercase()
                .contains(&noise[..6].to_lowercase())),
            "{noise}: {hits:?}"
        );
    }
    Ok(())
}

#[test]
fn hidden_and_excluded_paths_are_not_indexed() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    for q in ["secret", "generated file must not be indexed"] {
        for h in s.search(q, 10)? {
            assert!(
                !h.path.starts_with(".hidden") && !h.path.starts_with("_build"),
                "{h:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn plain_text_pages_are_searchable() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let hits = Searcher::open(&index)?.search("legacy XML format removed", 3)?;
    assert_eq!(hits[0].path, "changelog.txt");
    assert_eq!(hits[0].title, "Widgetry changelog");
    assert_eq!(hits[0].url, format!("{BASE_URL}changelog.txt"));
    Ok(())
}

#[test]
fn typos_are_corrected_against_the_vocabulary() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    let hits = s.search("certificat authorty for the proxxy", 3)?;
    assert!(
        hits[0].url.ends_with("guide/proxy.html#certificates"),
        "{hits:?}"
    );
    assert!(
        hits[0].snippet.contains("«certificate» «authority»"),
        "{}",
        hits[0].snippet
    );
    Ok(())
}

#[test]
fn last_word_matches_as_a_prefix_while_typing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    let hits = s.search("trust stor", 3)?;
    assert!(hits[0].url.ends_with("#certificates"), "{hits:?}");
    Ok(())
}

#[test]
fn token_budget_caps_results_but_keeps_one() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    let all = s.search_with_budget("widgetry", 10, usize::MAX)?;
    assert!(all.len() >= 4, "{all:?}");
    assert_eq!(s.search_with_budget("widgetry", 10, 1)?.len(), 1);
    let some = s.search_with_budget("widgetry", 10, 60)?;
    assert!(!some.is_empty() && some.len() < all.len());
    Ok(())
}

#[test]
fn fts_query_syntax_in_user_input_is_plain_text() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    for q in [
        "\"unbalanced proxy",
        "NEAR(proxy certificates)",
        "title:proxy",
        "proxy AND",
        "OR OR OR proxy",
        "proxy*",
        "^proxy",
        "-proxy NOT certificates",
        "{title headings}: proxy",
        "proxy'); DROP TABLE sections; --",
    ] {
        let hits = s.search(q, 5)?;
        assert!(!hits.is_empty(), "{q}");
    }
    Ok(())
}

#[test]
fn archives_index_like_the_tree() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (tree_index, tree_stats) = build_fixture(dir.path())?;
    let tar_path = dir.path().join("widgetry-2.0.tar.gz");
    let zip_path = dir.path().join("widgetry-2.0.zip");
    write_tar_gz(&fixture_dir(), &tar_path)?;
    write_zip(&fixture_dir(), &zip_path)?;
    let tree_paths = paths_of(&tree_index)?;
    for archive in [tar_path, zip_path] {
        let out = dir.path().join("archive.sqlite");
        let stats = build_index(&[&archive], &out, &options())?;
        assert_eq!(stats.files, tree_stats.files, "{}", archive.display());
        assert_eq!(stats.sections, tree_stats.sections, "{}", archive.display());
        assert_eq!(paths_of(&out)?, tree_paths, "{}", archive.display());
    }
    Ok(())
}

#[test]
fn rebuilding_replaces_the_index_and_a_failed_build_keeps_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    build_fixture(dir.path())?;
    let missing = dir.path().join("no-such-dir");
    let err = build_index(&[&missing], &index, &options());
    assert!(
        matches!(err, Err(SearchError::SourceUnreadable { .. })),
        "{err:?}"
    );
    assert_eq!(Searcher::open(&index)?.info().name, "widgetry");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".devassist-index-")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
    Ok(())
}

#[test]
fn searcher_is_shared_across_threads() -> TestResult {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Searcher>();
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    let expected = s.search("proxy certificates", 5)?;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..50)
                        .map(|_| s.search("proxy certificates", 5))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            let results = h.join().map_err(|_| "query thread panicked")?;
            for r in results {
                assert_eq!(r?, expected);
            }
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

fn paths_of(index: &Path) -> TestResult<BTreeSet<String>> {
    let s = Searcher::open(index)?;
    Ok(s.search_with_budget("widgetry", 100, usize::MAX)?
        .into_iter()
        .map(|h| h.path)
        .collect())
}

/// Every file below `root`, wrapped in one top folder as release archives are.
fn files_below(root: &Path) -> TestResult<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((format!("widgetry-2.0/{rel}"), std::fs::read(&path)?));
            }
        }
    }
    Ok(out)
}

fn write_tar_gz(root: &Path, out: &Path) -> TestResult {
    let gz =
        flate2::write::GzEncoder::new(std::fs::File::create(out)?, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files_below(root)? {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes.as_slice())?;
    }
    tar.into_inner()?.finish()?;
    Ok(())
}

fn write_zip(root: &Path, out: &Path) -> TestResult {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(out)?);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files_below(root)? {
        zip.start_file(name, opts)?;
        zip.write_all(&bytes)?;
    }
    zip.finish()?;
    Ok(())
}
