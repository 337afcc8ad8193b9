//! Retrieval quality on a real corpus nobody here wrote: the Python 3.11 documentation from
//! Debian's `python3.11-doc` package. A smaller run of `make bench-search`: every question of
//! `bench/search/questions.tsv` against an index of the tutorial, HOWTOs, FAQ and the pages the
//! questions expect (about 150 pages), so it runs in seconds even in a debug build. Fails, with
//! the command to fix it, when the package is not installed.

mod common;

use common::TestResult;
use devassist_search::eval::{evaluate, load_questions};
use devassist_search::{IndexOptions, Searcher, build_index};
use std::path::{Path, PathBuf};

const DEFAULT_CORPUS: &str = "/usr/share/doc/python3.11/html";

fn corpus() -> TestResult<PathBuf> {
    let dir = std::env::var_os("DEVASSIST_SEARCH_CORPUS")
        .map_or_else(|| PathBuf::from(DEFAULT_CORPUS), PathBuf::from);
    if !dir.join("library/json.html").is_file() {
        return Err(format!(
            "the Python 3.11 documentation is not at {} — install it with \
             `apt-get install python3.11-doc` (`make bench-search` does), or point \
             DEVASSIST_SEARCH_CORPUS at its html folder",
            dir.display()
        )
        .into());
    }
    Ok(dir)
}

/// Copies `rel` (a file or a folder) from the corpus into `dest`, keeping its path.
fn copy(corpus: &Path, dest: &Path, rel: &str) -> TestResult {
    let src = corpus.join(rel);
    if src.is_dir() {
        for entry in std::fs::read_dir(&src)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            copy(corpus, dest, &format!("{rel}/{name}"))?;
        }
    } else {
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(&src, &target)?;
    }
    Ok(())
}

#[test]
fn python_docs_recall_meets_goals() -> TestResult {
    let corpus = corpus()?;
    let questions_file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/search/questions.tsv");
    let questions = load_questions(&questions_file)?;
    assert!(
        questions.len() >= 50,
        "the evaluation set needs at least 50 questions"
    );

    let dir = tempfile::tempdir()?;
    let subset = dir.path().join("html");
    for rel in ["tutorial", "howto", "faq", "glossary.html"] {
        copy(&corpus, &subset, rel)?;
    }
    for q in &questions {
        for page in &q.expected {
            copy(&corpus, &subset, page)?;
        }
    }
    let index = dir.path().join("python.sqlite");
    let opts = IndexOptions {
        name: "python".into(),
        version: "3.11".into(),
        ..IndexOptions::default()
    };
    let stats = build_index(&[&subset], &index, &opts)?;
    let searcher = Searcher::open(&index)?;

    let written = evaluate(&searcher, &questions, false)?;
    let typos = evaluate(&searcher, &questions, true)?;
    eprintln!(
        "{} pages, {} sections; as written: recall@5 {:.3} MRR@10 {:.3}; with typos: recall@5 {:.3} MRR@10 {:.3}",
        stats.files,
        stats.sections,
        written.recall_at_5,
        written.mrr_at_10,
        typos.recall_at_5,
        typos.mrr_at_10
    );
    for m in written.misses.iter().chain(&typos.misses) {
        eprintln!(
            "  miss: {} (want {:?}, got {:?})",
            m.question, m.expected, m.got
        );
    }
    assert!(
        written.recall_at_5 >= 0.8,
        "recall@5 as written {:.3} < 0.8",
        written.recall_at_5
    );
    assert!(
        typos.recall_at_5 >= 0.6,
        "recall@5 with typos {:.3} < 0.6",
        typos.recall_at_5
    );
    Ok(())
}
