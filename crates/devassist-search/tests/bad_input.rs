//! Bad input gives clear errors, never a panic or an SQLite message out of context: empty,
//! missing and unreadable sources, corrupt archives, corrupt or foreign index files, and
//! empty, huge or symbol-only queries.

mod common;

use common::{TestResult, build_fixture, options};
use devassist_search::{ErrorClass, SearchError, Searcher, build_index};
use std::io::{Seek, SeekFrom, Write};

#[test]
fn missing_source_is_named_in_the_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("nope");
    let err = build_index(&[&src], &dir.path().join("o.sqlite"), &options()).err();
    let Some(e @ SearchError::SourceUnreadable { .. }) = err else {
        return Err(format!("expected SourceUnreadable, got {err:?}").into());
    };
    assert!(e.to_string().contains("nope"), "{e}");
    assert_eq!(e.class(), ErrorClass::BadRequest);
    Ok(())
}

#[test]
fn dangling_symlink_source_is_unreadable() -> TestResult {
    let dir = tempfile::tempdir()?;
    let link = dir.path().join("docs");
    std::os::unix::fs::symlink(dir.path().join("gone"), &link)?;
    let err = build_index(&[&link], &dir.path().join("o.sqlite"), &options());
    assert!(
        matches!(err, Err(SearchError::SourceUnreadable { .. })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn empty_source_says_what_was_looked_for() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("empty");
    std::fs::create_dir(&src)?;
    std::fs::write(src.join("logo.png"), b"\x89PNG")?;
    let err = build_index(&[&src], &dir.path().join("o.sqlite"), &options()).err();
    let Some(e @ SearchError::EmptySource { .. }) = err else {
        return Err(format!("expected EmptySource, got {err:?}").into());
    };
    assert!(e.to_string().contains(".md"), "{e}");
    assert!(!dir.path().join("o.sqlite").exists());
    Ok(())
}

#[test]
fn documents_without_text_make_an_empty_source() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("blank");
    std::fs::create_dir(&src)?;
    std::fs::write(src.join("a.md"), "---\ntitle: x\n---\n")?;
    std::fs::write(
        src.join("b.html"),
        "<html><body><nav>menu</nav></body></html>",
    )?;
    let err = build_index(&[&src], &dir.path().join("o.sqlite"), &options());
    assert!(
        matches!(err, Err(SearchError::EmptySource { .. })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn corrupt_archives_are_reported_as_such() -> TestResult {
    let dir = tempfile::tempdir()?;
    for name in ["docs.tar.gz", "docs.tgz", "docs.zip"] {
        let path = dir.path().join(name);
        std::fs::write(&path, b"this is not an archive at all, just some bytes")?;
        let err = build_index(&[&path], &dir.path().join("o.sqlite"), &options()).err();
        let Some(e @ SearchError::BadArchive { .. }) = err else {
            return Err(format!("{name}: expected BadArchive, got {err:?}").into());
        };
        assert!(e.to_string().contains(name), "{e}");
    }
    Ok(())
}

#[test]
fn oversized_files_are_skipped_and_counted() -> TestResult {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    std::fs::create_dir(&src)?;
    std::fs::write(src.join("ok.md"), "# Fine\n\nSome text.\n")?;
    // A sparse file: large on paper, no disk used.
    std::fs::File::create(src.join("huge.txt"))?.set_len(32 * 1024 * 1024)?;
    let stats = build_index(&[&src], &dir.path().join("o.sqlite"), &options())?;
    assert_eq!((stats.files, stats.skipped), (1, 1));
    Ok(())
}

#[test]
fn bad_exclude_pattern_is_a_bad_request() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut opts = options();
    opts.exclude = vec!["[unclosed".into()];
    let err = build_index(
        &[common::fixture_dir()],
        &dir.path().join("o.sqlite"),
        &opts,
    );
    assert!(
        matches!(err, Err(SearchError::BadRequest(ref m)) if m.contains("[unclosed")),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn missing_index_file() {
    let err = Searcher::open("/nonexistent/docs.sqlite").err();
    assert!(
        matches!(err, Some(SearchError::IndexMissing { .. })),
        "{err:?}"
    );
}

#[test]
fn non_index_files_are_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let garbage = dir.path().join("garbage.sqlite");
    std::fs::write(&garbage, "this is a text file, not a database".repeat(100))?;
    let empty = dir.path().join("empty.sqlite");
    std::fs::write(&empty, b"")?;
    let other = dir.path().join("other.sqlite");
    rusqlite::Connection::open(&other)?
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")?;
    for path in [&garbage, &empty, &other, &dir.path().to_path_buf()] {
        let err = Searcher::open(path).err();
        let Some(e @ SearchError::NotAnIndex { .. }) = err else {
            return Err(format!("{}: expected NotAnIndex, got {err:?}", path.display()).into());
        };
        assert!(e.to_string().contains("not a devassist docs index"), "{e}");
        assert_eq!(e.class(), ErrorClass::Internal);
    }
    Ok(())
}

#[test]
fn index_of_another_schema_version_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    rusqlite::Connection::open(&index)?.pragma_update(None, "user_version", 99)?;
    let err = Searcher::open(&index).err();
    let Some(e @ SearchError::SchemaMismatch { found: 99, .. }) = err else {
        return Err(format!("expected SchemaMismatch, got {err:?}").into());
    };
    assert!(e.to_string().contains("rebuild"), "{e}");
    Ok(())
}

#[test]
fn corrupt_index_is_refused_at_open() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let len = std::fs::metadata(&index)?.len();
    // Scribble over everything after the first page (the header stays valid).
    let mut f = std::fs::OpenOptions::new().write(true).open(&index)?;
    f.seek(SeekFrom::Start(4096))?;
    f.write_all(&vec![0xA5; (len - 4096) as usize])?;
    drop(f);
    let err = Searcher::open(&index).err();
    assert!(
        matches!(err, Some(SearchError::NotAnIndex { .. })),
        "{err:?}"
    );

    let (index, _) = build_fixture(dir.path())?;
    let f = std::fs::OpenOptions::new().write(true).open(&index)?;
    f.set_len(len / 2)?;
    drop(f);
    let err = Searcher::open(&index).err();
    assert!(
        matches!(err, Some(SearchError::NotAnIndex { .. })),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn bad_queries_give_clear_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    assert!(matches!(s.search("", 5), Err(SearchError::EmptyQuery)));
    assert!(matches!(
        s.search("  \n\t ", 5),
        Err(SearchError::EmptyQuery)
    ));
    assert!(matches!(
        s.search("?!…—\"*()", 5),
        Err(SearchError::NoSearchableWords)
    ));
    let huge = "proxy ".repeat(70_000);
    let err = s.search(&huge, 5).err();
    let Some(e @ SearchError::QueryTooLong { .. }) = err else {
        return Err(format!("expected QueryTooLong, got {err:?}").into());
    };
    assert!(e.to_string().contains("400000"), "{e}");
    assert_eq!(e.class(), ErrorClass::BadRequest);
    assert!(matches!(
        s.search("proxy", 0),
        Err(SearchError::BadLimit { .. })
    ));
    assert!(matches!(
        s.search("proxy", 101),
        Err(SearchError::BadLimit { .. })
    ));
    Ok(())
}

#[test]
fn long_queries_are_truncated_not_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (index, _) = build_fixture(dir.path())?;
    let s = Searcher::open(&index)?;
    // 100 KB: far past the 4 KB that is read for terms, under the 400,000-byte limit.
    let long = format!("proxy certificates {}", "lorem ipsum dolor ".repeat(5_500));
    let hits = s.search(&long, 5)?;
    assert!(hits[0].url.ends_with("#certificates"), "{hits:?}");
    Ok(())
}
