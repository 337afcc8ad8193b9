//! Helpers shared by the integration tests: the fixture docs tree and an index built from it.

#![allow(dead_code, reason = "each test binary uses a different part")]

use devassist_search::{IndexOptions, IndexStats, build_index};
use std::path::{Path, PathBuf};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub const BASE_URL: &str = "https://docs.widgetry.example/";

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docs")
}

pub fn options() -> IndexOptions {
    IndexOptions {
        name: "widgetry".into(),
        version: "2.0".into(),
        base_url: Some(BASE_URL.into()),
        exclude: vec!["_build".into()],
        ..IndexOptions::default()
    }
}

/// Builds the fixture index into `dir` and returns its path and the build stats.
pub fn build_fixture(dir: &Path) -> TestResult<(PathBuf, IndexStats)> {
    let out = dir.join("widgetry.sqlite");
    let stats = build_index(&[fixture_dir()], &out, &options())?;
    Ok((out, stats))
}
