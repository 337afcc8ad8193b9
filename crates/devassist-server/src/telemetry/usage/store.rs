//! The usage database: one SQLite file (`usage.sqlite3` under the data directory), one row
//! per request. WAL mode, so `devassist usage` reads while the gateway writes; several
//! gateways on one data directory wait on each other's batches (`busy_timeout`) instead of
//! failing. Only the writer task and the `usage` command open it; never a request.

use super::UsageRecord;
use rusqlite::{Connection, OpenFlags, params};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The schema's version (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS usage (
    id                INTEGER PRIMARY KEY,
    at_ms             INTEGER NOT NULL,
    request_id        TEXT NOT NULL,
    key               TEXT,
    user              TEXT,
    surface           TEXT NOT NULL,
    feature           TEXT,
    model             TEXT,
    backend           TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    ttft_ms           REAL,
    duration_ms       REAL NOT NULL,
    status            INTEGER NOT NULL,
    cancelled         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_at ON usage (at_ms);
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("{0}: cannot create the directory: {1}")]
    Directory(String, std::io::Error),
    #[error("{0}: written by a newer devassist (usage schema {1}, this one knows {v})", v = SCHEMA_VERSION)]
    Newer(String, i64),
}

pub struct Store {
    conn: Connection,
    path: String,
}

/// Unix milliseconds of `t` (0 before 1970).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One stored row, as the `usage` command reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub at_ms: i64,
    pub request_id: String,
    pub key: Option<String>,
    pub user: Option<String>,
    pub surface: String,
    pub feature: Option<String>,
    pub model: Option<String>,
    pub backend: Option<String>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    pub ttft_ms: Option<f64>,
    pub duration_ms: f64,
    pub status: u16,
    pub cancelled: bool,
}

impl Store {
    /// Opens (creating it and its directory if needed) the database at `path` for writing.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Directory(dir.display().to_string(), e))?;
        }
        let sqlite = |source| StoreError::Sqlite {
            path: shown.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sqlite)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sqlite)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer(shown, version));
        }
        conn.execute_batch(SCHEMA).map_err(sqlite)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(sqlite)?;
        Ok(Self { conn, path: shown })
    }

    /// Opens an existing database for reading only.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let sqlite = |source| StoreError::Sqlite {
            path: shown.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(sqlite)?;
        Ok(Self { conn, path: shown })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes `batch` in one transaction.
    pub fn insert(&mut self, batch: &[UsageRecord]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sqlite = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sqlite)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO usage (at_ms, request_id, key, user, surface, feature, model, \
                     backend, prompt_tokens, completion_tokens, ttft_ms, duration_ms, status, \
                     cancelled) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .map_err(sqlite)?;
            for r in batch {
                insert
                    .execute(params![
                        unix_ms(r.at),
                        &*r.request_id,
                        r.key.as_deref(),
                        r.user.as_deref(),
                        r.surface,
                        r.feature.map(|f| f.as_str()),
                        r.model.as_deref(),
                        r.backend.as_deref(),
                        r.prompt_tokens,
                        r.completion_tokens,
                        r.ttft.map(ms),
                        ms(r.duration),
                        r.status,
                        r.cancelled,
                    ])
                    .map_err(sqlite)?;
            }
        }
        tx.commit().map_err(sqlite)
    }

    /// Deletes the records of requests that arrived before `before`; returns how many.
    pub fn prune(&self, before: SystemTime) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM usage WHERE at_ms < ?1", [unix_ms(before)])
            .map_err(|e| self.err(e))
    }

    /// Every record of requests that arrived at or after `since`, oldest first, to `each`.
    pub fn each_since(
        &self,
        since: SystemTime,
        mut each: impl FnMut(Row),
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT at_ms, request_id, key, user, surface, feature, model, backend, \
                 prompt_tokens, completion_tokens, ttft_ms, duration_ms, status, cancelled \
                 FROM usage WHERE at_ms >= ?1 ORDER BY at_ms, id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([unix_ms(since)], |r| {
                Ok(Row {
                    at_ms: r.get(0)?,
                    request_id: r.get(1)?,
                    key: r.get(2)?,
                    user: r.get(3)?,
                    surface: r.get(4)?,
                    feature: r.get(5)?,
                    model: r.get(6)?,
                    backend: r.get(7)?,
                    prompt_tokens: r.get(8)?,
                    completion_tokens: r.get(9)?,
                    ttft_ms: r.get(10)?,
                    duration_ms: r.get(11)?,
                    status: r.get(12)?,
                    cancelled: r.get(13)?,
                })
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            each(row.map_err(|e| self.err(e))?);
        }
        Ok(())
    }

    /// How many records there are.
    pub fn count(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM usage", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}
