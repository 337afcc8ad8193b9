//! Reading documentation sources: directory trees, single files, and `.tar.gz` / `.tgz` /
//! `.zip` archives. Yields raw documents with their path relative to the source root; it does
//! not parse them (see `parse`).

mod archive;

use crate::error::{Result, SearchError};
use globset::{Glob, GlobSet, GlobSetBuilder};
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Documents larger than this are skipped: real pages are far smaller, and a huge file is
/// more likely a generated dump than documentation.
pub(crate) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The document formats the indexer understands, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocFormat {
    Markdown,
    Html,
    Text,
}

impl DocFormat {
    pub(crate) fn from_path(path: &str) -> Option<Self> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "md" | "markdown" | "mdx" => Some(Self::Markdown),
            "html" | "htm" | "xhtml" => Some(Self::Html),
            "txt" | "text" | "rst" => Some(Self::Text),
            _ => None,
        }
    }
}

/// One document read from a source.
pub(crate) struct SourceFile {
    /// Path below the source root, `/`-separated.
    pub path: String,
    pub format: DocFormat,
    pub bytes: Vec<u8>,
}

/// What one source contributed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub files: usize,
    pub skipped: usize,
}

/// Paths left out of the index: hidden files and folders always, plus the user's globs. A
/// glob matches the whole relative path or any one component of it, so `_static` leaves out
/// that folder and `genindex*` those pages wherever they are.
pub(crate) struct Filter {
    globs: GlobSet,
}

impl Filter {
    pub(crate) fn new(patterns: &[String]) -> Result<Self> {
        let mut builder = GlobSetBuilder::new();
        for p in patterns {
            let glob = Glob::new(p).map_err(|e| {
                SearchError::BadRequest(format!("bad --exclude pattern '{p}': {e}"))
            })?;
            builder.add(glob);
        }
        let globs = builder
            .build()
            .map_err(|e| SearchError::BadRequest(format!("bad --exclude patterns: {e}")))?;
        Ok(Self { globs })
    }

    pub(crate) fn excluded(&self, rel: &str) -> bool {
        rel.split('/')
            .any(|c| c.starts_with('.') || self.globs.is_match(c))
            || self.globs.is_match(rel)
    }
}

/// Visits every document of one source, calling `emit` for each in a stable order.
pub(crate) fn visit(
    src: &Path,
    filter: &Filter,
    progress: &ProgressBar,
    emit: &mut dyn FnMut(SourceFile) -> Result<()>,
) -> Result<Counts> {
    let meta = std::fs::metadata(src).map_err(|e| SearchError::SourceUnreadable {
        path: src.to_path_buf(),
        reason: e.to_string(),
    })?;
    let name = src.to_string_lossy().to_ascii_lowercase();
    let counts = if meta.is_dir() {
        visit_dir(src, filter, progress, emit)?
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        archive::visit_tar_gz(src, filter, progress, emit)?
    } else if name.ends_with(".zip") {
        archive::visit_zip(src, filter, progress, emit)?
    } else {
        visit_file(src, progress, emit)?
    };
    if counts.files == 0 {
        return Err(SearchError::EmptySource {
            path: src.to_path_buf(),
        });
    }
    Ok(counts)
}

fn visit_file(
    src: &Path,
    progress: &ProgressBar,
    emit: &mut dyn FnMut(SourceFile) -> Result<()>,
) -> Result<Counts> {
    let name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(format) = DocFormat::from_path(&name) else {
        return Ok(Counts::default());
    };
    let bytes = read_limited(src).map_err(|reason| SearchError::SourceUnreadable {
        path: src.to_path_buf(),
        reason,
    })?;
    progress.inc_length(1);
    emit(SourceFile {
        path: name,
        format,
        bytes,
    })?;
    progress.inc(1);
    Ok(Counts {
        files: 1,
        skipped: 0,
    })
}

fn visit_dir(
    root: &Path,
    filter: &Filter,
    progress: &ProgressBar,
    emit: &mut dyn FnMut(SourceFile) -> Result<()>,
) -> Result<Counts> {
    let mut counts = Counts::default();
    // List first so the progress bar knows its length; listing is cheap next to parsing.
    let mut files: Vec<(PathBuf, String, DocFormat)> = Vec::new();
    let walker = WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !filter.excluded(&rel_path(root, e.path())));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.depth() == 0 => {
                return Err(SearchError::SourceUnreadable {
                    path: root.to_path_buf(),
                    reason: e.to_string(),
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "Skipping unreadable path");
                counts.skipped += 1;
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = rel_path(root, entry.path());
        if let Some(format) = DocFormat::from_path(&rel) {
            files.push((entry.into_path(), rel, format));
        }
    }
    progress.inc_length(files.len() as u64);
    for (path, rel, format) in files {
        match read_limited(&path) {
            Ok(bytes) => {
                emit(SourceFile {
                    path: rel,
                    format,
                    bytes,
                })?;
                counts.files += 1;
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "Skipping unreadable file");
                counts.skipped += 1;
            }
        }
        progress.inc(1);
    }
    Ok(counts)
}

fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn read_limited(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file is {} bytes, larger than the {MAX_FILE_BYTES}-byte limit",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(DocFormat::from_path("a/b.MD"), Some(DocFormat::Markdown));
        assert_eq!(DocFormat::from_path("x.htm"), Some(DocFormat::Html));
        assert_eq!(DocFormat::from_path("notes.txt"), Some(DocFormat::Text));
        assert_eq!(DocFormat::from_path("image.png"), None);
        assert_eq!(DocFormat::from_path("Makefile"), None);
    }

    #[test]
    fn filter_matches_components_and_paths() -> Result<()> {
        let f = Filter::new(&["_static".into(), "genindex*".into(), "c-api/*.html".into()])?;
        assert!(f.excluded("_static/x.html"));
        assert!(f.excluded("genindex-A.html"));
        assert!(f.excluded("c-api/list.html"));
        assert!(f.excluded(".git/config.md"));
        assert!(!f.excluded("library/json.html"));
        Ok(())
    }
}
