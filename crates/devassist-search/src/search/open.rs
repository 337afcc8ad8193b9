//! Opening an index: read-only connections, validation (SQLite file, devassist index, schema
//! version, tables, integrity), metadata, and the small connection pool that makes a
//! [`super::Searcher`] `Send + Sync`.

use super::SearchOptions;
use crate::error::{Result, SearchError};
use crate::schema::{self, meta};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, TryLockError};

/// What an index holds, from its `meta` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexInfo {
    pub name: String,
    pub version: String,
    /// Rows (passages) in the index.
    pub sections: u64,
    pub files: u64,
    /// RFC 3339 time the index was built.
    pub built_at: String,
    pub schema_version: i64,
    /// URL prefix given at build time, if any.
    pub base_url: Option<String>,
}

/// Connections, each behind its own mutex: SQLite connections may move between threads but
/// not be shared, and queries take milliseconds, so a handful of them serve a busy server.
pub(crate) struct Pool {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

impl Pool {
    /// Runs `f` on a free connection, waiting for one if all are busy.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            match self.conns[(start + i) % n].try_lock() {
                Ok(conn) => return f(&conn),
                // A panic elsewhere cannot leave a read-only connection inconsistent.
                Err(TryLockError::Poisoned(p)) => return f(&p.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let conn = self.conns[start]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&conn)
    }
}

pub(crate) fn open(path: &Path, options: &SearchOptions) -> Result<(Pool, IndexInfo)> {
    let meta_data = std::fs::metadata(path).map_err(|_| SearchError::IndexMissing {
        path: path.to_path_buf(),
    })?;
    let not_index = |reason: String| SearchError::NotAnIndex {
        path: path.to_path_buf(),
        reason,
    };
    if meta_data.is_dir() {
        return Err(not_index("it is a directory".into()));
    }
    let first = connect(path).map_err(|e| not_index(e.to_string()))?;
    let info = validate(&first, path, options.verify_on_open)?;
    let mut conns = vec![Mutex::new(first)];
    for _ in 1..options.connections.max(1) {
        conns.push(Mutex::new(
            connect(path).map_err(|e| not_index(e.to_string()))?,
        ));
    }
    Ok((
        Pool {
            conns,
            next: AtomicUsize::new(0),
        },
        info,
    ))
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )?;
    // Memory-map the file: indexes are tens of MB and read-only, so the OS page cache serves
    // every query without copying.
    conn.execute_batch("PRAGMA mmap_size = 268435456; PRAGMA cache_size = -16000;")?;
    Ok(conn)
}

fn validate(conn: &Connection, path: &Path, verify: bool) -> Result<IndexInfo> {
    let not_index = |reason: String| SearchError::NotAnIndex {
        path: path.to_path_buf(),
        reason,
    };
    // The first read fails with "file is not a database" for anything that is not SQLite.
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| not_index(e.to_string()))?;
    if app_id != schema::APPLICATION_ID {
        return Err(not_index(format!(
            "application id {app_id:#x} is not a docs index's ({:#x}); build one with `devassist docs index`",
            schema::APPLICATION_ID
        )));
    }
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not_index(e.to_string()))?;
    if version != schema::SCHEMA_VERSION {
        return Err(SearchError::SchemaMismatch {
            path: path.to_path_buf(),
            found: version,
            expected: schema::SCHEMA_VERSION,
        });
    }
    if verify {
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| not_index(format!("integrity check failed: {e}")))?;
        if check != "ok" {
            return Err(not_index(format!("the file is corrupt: {check}")));
        }
    }
    for table in schema::REQUIRED_TABLES {
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .map_err(|e| not_index(e.to_string()))?;
        if found == 0 {
            return Err(not_index(format!("table '{table}' is missing")));
        }
    }
    let mut stmt = conn
        .prepare("SELECT key, value FROM meta")
        .map_err(|e| not_index(e.to_string()))?;
    let entries: HashMap<String, String> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| not_index(e.to_string()))?;
    let get = |k: &str| entries.get(k).cloned().unwrap_or_default();
    let sections: u64 = get(meta::SECTIONS)
        .parse()
        .map_err(|_| not_index("metadata has no section count".into()))?;
    Ok(IndexInfo {
        name: get(meta::NAME),
        version: get(meta::VERSION),
        sections,
        files: get(meta::FILES).parse().unwrap_or(0),
        built_at: get(meta::BUILT_AT),
        schema_version: version,
        base_url: Some(get(meta::BASE_URL)).filter(|u| !u.is_empty()),
    })
}
