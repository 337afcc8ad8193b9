//! The file's sha256 (Ollama's `digest`, bare hex). Hashing a multi-GiB model takes seconds, so
//! results are cached per process, keyed on path, size and modification time; callers on an
//! async runtime should still call this from a blocking task the first time.

use crate::error::GgufError;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

type Key = (u64, Option<SystemTime>);

fn cache() -> &'static Mutex<HashMap<PathBuf, (Key, String)>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, (Key, String)>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The sha256 of the file at `path` as lowercase hex, computed once per (path, size, mtime).
pub fn digest(path: &Path) -> Result<String, GgufError> {
    let io = |source| GgufError::Io {
        path: path.to_path_buf(),
        source,
    };
    let stat = std::fs::metadata(path).map_err(io)?;
    let key = (stat.len(), stat.modified().ok());
    {
        let cached = cache()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((k, hex)) = cached.get(path)
            && *k == key
        {
            return Ok(hex.clone());
        }
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(path.to_path_buf(), (key, hex.clone()));
    Ok(hex)
}
