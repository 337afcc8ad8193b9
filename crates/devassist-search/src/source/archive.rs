//! Documents inside `.tar.gz` / `.tgz` and `.zip` archives. Release archives wrap everything
//! in one top folder (`gitlab-v17.6.0-ee/doc/…`); that folder is dropped so paths and URLs
//! look the same as when the unpacked tree is indexed.

use super::{Counts, DocFormat, Filter, MAX_FILE_BYTES, SourceFile};
use crate::error::{Result, SearchError};
use flate2::read::GzDecoder;
use indicatif::ProgressBar;
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path};

/// An archive entry kept for indexing, before the common top folder is known.
struct Entry {
    path: String,
    format: DocFormat,
    bytes: Vec<u8>,
}

pub(super) fn visit_tar_gz(
    src: &Path,
    filter: &Filter,
    progress: &ProgressBar,
    emit: &mut dyn FnMut(SourceFile) -> Result<()>,
) -> Result<Counts> {
    let (file, bad) = open(src)?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let mut entries = Vec::new();
    let mut skipped = 0;
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| bad(e.to_string()))?;
        let path = safe_path(&path);
        let size = entry.size();
        take(path, size, &mut entry, &bad, &mut entries, &mut skipped)?;
    }
    emit_entries(entries, skipped, filter, progress, emit)
}

pub(super) fn visit_zip(
    src: &Path,
    filter: &Filter,
    progress: &ProgressBar,
    emit: &mut dyn FnMut(SourceFile) -> Result<()>,
) -> Result<Counts> {
    let (file, bad) = open(src)?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
    let mut entries = Vec::new();
    let mut skipped = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        if !entry.is_file() {
            continue;
        }
        let path = entry.enclosed_name().and_then(|p| safe_path(&p));
        let size = entry.size();
        take(path, size, &mut entry, &bad, &mut entries, &mut skipped)?;
    }
    emit_entries(entries, skipped, filter, progress, emit)
}

/// Opens an archive file, with the error constructor for what goes wrong inside it.
fn open(src: &Path) -> Result<(File, impl Fn(String) -> SearchError + '_)> {
    let file = File::open(src).map_err(|e| SearchError::SourceUnreadable {
        path: src.to_path_buf(),
        reason: e.to_string(),
    })?;
    let bad = |reason: String| SearchError::BadArchive {
        path: src.to_path_buf(),
        reason,
    };
    Ok((file, bad))
}

/// Reads one archive entry if it is a document worth indexing. `path` is `None` when the
/// entry's path is unsafe (absolute, `..`); unsafe and oversized entries count as skipped,
/// files of other formats are ignored.
fn take(
    path: Option<String>,
    size: u64,
    reader: &mut dyn Read,
    bad: &dyn Fn(String) -> SearchError,
    entries: &mut Vec<Entry>,
    skipped: &mut usize,
) -> Result<()> {
    let Some(path) = path else {
        *skipped += 1;
        return Ok(());
    };
    let Some(format) = DocFormat::from_path(&path) else {
        return Ok(());
    };
    if size > MAX_FILE_BYTES {
        tracing::warn!(%path, size, "Skipping oversized archive entry");
        *skipped += 1;
        return Ok(());
    }
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("{path}: {e}")))?;
    entries.push(Entry {
        path,
        format,
        bytes,
    });
    Ok(())
}

/// Joins the normal components of an archive path with `/`; rejects absolute paths and `..`.
fn safe_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn emit_entries(
    mut entries: Vec<Entry>,
    skipped: usize,
    filter: &Filter,
    progress: &ProgressBar,
    emit: &mut dyn FnMut(SourceFile) -> Result<()>,
) -> Result<Counts> {
    strip_common_top_folder(&mut entries);
    entries.retain(|e| !filter.excluded(&e.path));
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    progress.inc_length(entries.len() as u64);
    let files = entries.len();
    for e in entries {
        emit(SourceFile {
            path: e.path,
            format: e.format,
            bytes: e.bytes,
        })?;
        progress.inc(1);
    }
    Ok(Counts { files, skipped })
}

fn strip_common_top_folder(entries: &mut [Entry]) {
    let Some(first) = entries.first() else {
        return;
    };
    let Some((top, _)) = first.path.split_once('/') else {
        return;
    };
    let prefix = format!("{top}/");
    if entries.iter().all(|e| e.path.starts_with(&prefix)) {
        for e in entries.iter_mut() {
            e.path.drain(..prefix.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry {
            path: path.into(),
            format: DocFormat::Markdown,
            bytes: Vec::new(),
        }
    }

    #[test]
    fn common_top_folder_is_stripped() {
        let mut e = vec![entry("gitlab-v1/doc/a.md"), entry("gitlab-v1/doc/b/c.md")];
        strip_common_top_folder(&mut e);
        assert_eq!(e[0].path, "doc/a.md");
        assert_eq!(e[1].path, "doc/b/c.md");
        let mut e = vec![entry("a/x.md"), entry("b/y.md")];
        strip_common_top_folder(&mut e);
        assert_eq!(e[0].path, "a/x.md");
    }

    #[test]
    fn unsafe_archive_paths_are_rejected() {
        assert_eq!(safe_path(Path::new("./a/b.md")), Some("a/b.md".into()));
        assert_eq!(safe_path(Path::new("../etc/passwd.md")), None);
        assert_eq!(safe_path(Path::new("/abs.md")), None);
    }
}
