//! Listing a models directory: every `*.gguf` file in it (not recursive, dotfiles skipped),
//! named Ollama-style from its metadata. Parsed metadata is cached per (path, size, mtime) so
//! listing on every `/api/tags` call reads each file once.

use crate::error::GgufError;
use crate::meta::ModelMeta;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// One model file found in the models directory.
#[derive(Debug, Clone)]
pub struct LocalModel {
    /// Ollama-style name, unique within the directory (`smollm2:135m`).
    pub name: String,
    pub path: PathBuf,
    pub meta: Arc<ModelMeta>,
}

/// The result of listing a directory: the models, and the files that could not be read.
#[derive(Debug, Default)]
pub struct Discovery {
    pub models: Vec<LocalModel>,
    /// One error per `*.gguf` file that is not a readable GGUF file (each names its file).
    pub errors: Vec<GgufError>,
}

impl Discovery {
    /// The model with this name; a name without a tag also matches `:latest`.
    pub fn find(&self, name: &str) -> Option<&LocalModel> {
        let with_tag = if name.contains(':') {
            name.to_string()
        } else {
            format!("{name}:latest")
        };
        self.models
            .iter()
            .find(|m| m.name == name || m.name == with_tag)
    }
}

/// List the GGUF models in `dir`, sorted by file name. A missing directory is empty, not an
/// error (a fresh machine has none yet); an unreadable one is an error naming it.
pub fn discover(dir: &Path) -> Result<Discovery, GgufError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Discovery::default()),
        Err(source) => {
            return Err(GgufError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_gguf_name(p) && p.is_file())
        .collect();
    paths.sort();

    let mut out = Discovery::default();
    let mut taken = HashSet::new();
    for path in paths {
        match cached_meta(&path) {
            Ok(meta) => {
                let name = unique_name(&meta, &path, &mut taken);
                out.models.push(LocalModel { name, path, meta });
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "Skipping unreadable model file");
                out.errors.push(err);
            }
        }
    }
    Ok(out)
}

fn is_gguf_name(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_none_or(|n| n.starts_with('.'));
    let gguf = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    gguf && !hidden
}

/// The name a model gets from its metadata: `basename:size_label` lower-cased
/// (`SmolLM2` + `135M` → `smollm2:135m`), `basename:latest` without a size label, and
/// `<file stem>:latest` without a basename.
pub fn model_name(meta: &ModelMeta) -> String {
    let base = meta
        .basename
        .as_deref()
        .map(sanitize)
        .filter(|b| !b.is_empty());
    match base {
        Some(base) => {
            let tag = meta
                .size_label
                .as_deref()
                .map(sanitize)
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "latest".to_string());
            format!("{base}:{tag}")
        }
        None => stem_name(&meta.path),
    }
}

fn stem_name(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| sanitize(&s.to_string_lossy()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "model".to_string());
    format!("{stem}:latest")
}

/// Two files with the same metadata name (two quantizations of one model): the first by file
/// name keeps it, the next falls back to its file stem, then to a numbered stem.
fn unique_name(meta: &ModelMeta, path: &Path, taken: &mut HashSet<String>) -> String {
    let mut candidates = vec![model_name(meta), stem_name(path)];
    let stem = stem_name(path);
    let base = stem.trim_end_matches(":latest").to_string();
    candidates.extend((2..).take(1000).map(|n| format!("{base}-{n}:latest")));
    for name in candidates {
        if taken.insert(name.clone()) {
            return name;
        }
    }
    stem
}

/// Lower-case; keep `[a-z0-9._-]`; spaces and other characters become `-`.
fn sanitize(s: &str) -> String {
    let mapped: String = s
        .trim()
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    mapped.trim_matches('-').to_string()
}

type MetaCache = Mutex<HashMap<PathBuf, ((u64, Option<SystemTime>), Arc<ModelMeta>)>>;

fn cached_meta(path: &Path) -> Result<Arc<ModelMeta>, GgufError> {
    static CACHE: OnceLock<MetaCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let stat = std::fs::metadata(path).map_err(|source| GgufError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let key = (stat.len(), stat.modified().ok());
    if let Some((k, meta)) = cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(path)
        && *k == key
    {
        return Ok(Arc::clone(meta));
    }
    let meta = Arc::new(ModelMeta::read(path)?);
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(path.to_path_buf(), (key, Arc::clone(&meta)));
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize("SmolLM2"), "smollm2");
        assert_eq!(sanitize("Qwen2.5 Coder"), "qwen2.5-coder");
        assert_eq!(sanitize("  /x/ "), "x");
    }

    #[test]
    fn gguf_names_only() {
        assert!(is_gguf_name(Path::new("/m/a.gguf")));
        assert!(is_gguf_name(Path::new("/m/a.GGUF")));
        assert!(!is_gguf_name(Path::new("/m/.a.gguf.partial")));
        assert!(!is_gguf_name(Path::new("/m/.hidden.gguf")));
        assert!(!is_gguf_name(Path::new("/m/a.bin")));
    }
}
