//! The API key store: one SQLite file (`[auth] keys_db`, default `keys.db` in the data
//! directory) shared by the running gateway and the `devassist keys` CLI. Only each key's
//! SHA-256 is stored; the whole key exists once, in what `create` and `rotate` return.
//! Synchronous (rusqlite): the gateway calls it off the async threads.

use super::secret::{self, SecretHash};
use devassist_core::{Caller, CallerKind, CallerLimits, Feature, TokenBudget};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key store {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("cannot create the directory of the key store {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("no API key with id `{0}`")]
    NotFound(String),
    #[error("API key `{0}` is revoked")]
    Revoked(String),
    #[error("no random numbers from the operating system: {0}")]
    Random(getrandom::Error),
    #[error("{0}")]
    Invalid(String),
}

/// What a key may do: the fields given to `keys create` and `POST /admin/keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub name: String,
    #[serde(default)]
    pub admin: bool,
    /// Model names; absent: every model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Feature names; absent: every feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<Feature>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u64>,
    /// Seconds; required with `token_budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_period_s: Option<u64>,
    /// Unix seconds after which the key stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl KeySpec {
    /// Rejects what cannot be a policy: an empty name, zero limits, a budget without its
    /// period.
    pub fn check(&self) -> Result<(), StoreError> {
        let bad = |m: &str| Err(StoreError::Invalid(m.to_owned()));
        if self.name.trim().is_empty() {
            return bad("a key needs a name");
        }
        for (v, what) in [
            (self.rpm, "rpm"),
            (self.tpm, "tpm"),
            (self.max_parallel, "max_parallel"),
        ] {
            if v == Some(0) {
                return bad(&format!("{what} must be greater than 0"));
            }
        }
        match (self.token_budget, self.budget_period_s) {
            (Some(0), _) => bad("token_budget must be greater than 0"),
            (Some(_), None) => bad("token_budget needs budget_period (e.g. 30d)"),
            (None, Some(_)) => bad("budget_period needs token_budget"),
            (_, Some(0)) => bad("budget_period must be longer than 0"),
            _ => Ok(()),
        }
    }

    fn limits(&self) -> CallerLimits {
        CallerLimits {
            rpm: self.rpm,
            tpm: self.tpm,
            max_parallel: self.max_parallel,
            token_budget: self
                .token_budget
                .zip(self.budget_period_s)
                .map(|(tokens, s)| TokenBudget {
                    tokens,
                    period: Duration::from_secs(s),
                }),
        }
    }
}

/// One stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub id: String,
    #[serde(flatten)]
    pub spec: KeySpec,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    #[serde(skip)]
    pub hash: SecretHash,
}

impl KeyRecord {
    /// Whether the key works at `now` (unix seconds).
    pub fn active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.spec.expires_at.is_none_or(|at| now < at)
    }

    /// The caller a request with this key is.
    pub fn caller(&self) -> Caller {
        Caller {
            id: self.id.clone(),
            name: self.spec.name.clone(),
            kind: CallerKind::ApiKey,
            user: None,
            groups: Vec::new(),
            admin: self.spec.admin,
            models: self.spec.models.clone(),
            features: self.spec.features.clone(),
            limits: self.spec.limits(),
        }
    }
}

/// A key as it is handed out: its record and, this once, the whole secret.
#[derive(Debug, Serialize)]
pub struct Issued {
    #[serde(flatten)]
    pub record: KeyRecord,
    pub key: String,
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub struct KeyStore {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    secret_sha256   BLOB NOT NULL,
    admin           INTEGER NOT NULL DEFAULT 0,
    models          TEXT,
    features        TEXT,
    rpm             INTEGER,
    tpm             INTEGER,
    max_parallel    INTEGER,
    token_budget    INTEGER,
    budget_period_s INTEGER,
    expires_at      INTEGER,
    created_at      INTEGER NOT NULL,
    rotated_at      INTEGER,
    revoked_at      INTEGER
);";

const COLUMNS: &str = "id, name, secret_sha256, admin, models, features, rpm, tpm, \
    max_parallel, token_budget, budget_period_s, expires_at, created_at, rotated_at, revoked_at";

impl KeyStore {
    /// Opens (creating when missing) the store at `path`; its directory is made too.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
        let store = Self {
            conn,
            path: path.to_path_buf(),
        };
        store
            .conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| store.err(e))?;
        // WAL: the gateway reads while the CLI writes.
        store
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(|e| store.err(e))?;
        store.conn.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
        restrict_permissions(path);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sqlite(&self.path, e)
    }

    /// A number that changes whenever another connection (the CLI, another process)
    /// committed a change: what the gateway polls to see revocations quickly.
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    pub fn create(&self, spec: KeySpec) -> Result<Issued, StoreError> {
        spec.check()?;
        let id = secret::new_id().map_err(StoreError::Random)?;
        let (key, hash) = secret::new_secret(&id).map_err(StoreError::Random)?;
        let created_at = now_unix();
        self.conn
            .execute(
                &format!(
                    "INSERT INTO api_keys ({COLUMNS}) VALUES \
                     (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, NULL, NULL)"
                ),
                params![
                    id,
                    spec.name,
                    hash.as_slice(),
                    spec.admin,
                    json_list(&spec.models),
                    json_list(&spec.features),
                    spec.rpm,
                    spec.tpm,
                    spec.max_parallel,
                    spec.token_budget
                        .map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
                    spec.budget_period_s
                        .map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
                    spec.expires_at,
                    created_at,
                ],
            )
            .map_err(|e| self.err(e))?;
        let record = KeyRecord {
            id,
            spec,
            created_at,
            rotated_at: None,
            revoked_at: None,
            hash,
        };
        Ok(Issued { record, key })
    }

    /// Every key, revoked ones included, oldest first.
    pub fn list(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], record).map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    pub fn get(&self, id: &str) -> Result<KeyRecord, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"),
                [id],
                record,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }

    /// A new secret for the key; the old one stops working at once.
    pub fn rotate(&self, id: &str) -> Result<Issued, StoreError> {
        let current = self.get(id)?;
        if current.revoked_at.is_some() {
            return Err(StoreError::Revoked(id.to_owned()));
        }
        let (key, hash) = secret::new_secret(id).map_err(StoreError::Random)?;
        let now = now_unix();
        self.conn
            .execute(
                "UPDATE api_keys SET secret_sha256 = ?1, rotated_at = ?2 WHERE id = ?3",
                params![hash.as_slice(), now, id],
            )
            .map_err(|e| self.err(e))?;
        Ok(Issued {
            record: KeyRecord {
                rotated_at: Some(now),
                hash,
                ..current
            },
            key,
        })
    }

    /// Stops the key for good. Revoking a revoked key changes nothing.
    pub fn revoke(&self, id: &str) -> Result<KeyRecord, StoreError> {
        let current = self.get(id)?;
        if current.revoked_at.is_some() {
            return Ok(current);
        }
        let now = now_unix();
        self.conn
            .execute(
                "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2",
                params![now, id],
            )
            .map_err(|e| self.err(e))?;
        Ok(KeyRecord {
            revoked_at: Some(now),
            ..current
        })
    }
}

fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

/// Only the owner reads the key store: hashes are not secrets, but policies are nobody
/// else's business.
fn restrict_permissions(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), error = %e, "Cannot restrict the key store's permissions");
        }
    }
}

fn json_list<T: Serialize>(list: &Option<Vec<T>>) -> Option<String> {
    list.as_ref().and_then(|l| serde_json::to_string(l).ok())
}

fn from_json_list<T: for<'de> Deserialize<'de>>(
    text: Option<String>,
    column: usize,
) -> rusqlite::Result<Option<Vec<T>>> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, e.into())
        })
    })
    .transpose()
}

fn record(row: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    let blob: Vec<u8> = row.get(2)?;
    let hash: SecretHash = blob.as_slice().try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Blob,
            "a key hash is 32 bytes".into(),
        )
    })?;
    let unsigned = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    Ok(KeyRecord {
        id: row.get(0)?,
        spec: KeySpec {
            name: row.get(1)?,
            admin: row.get(3)?,
            models: from_json_list(row.get(4)?, 4)?,
            features: from_json_list(row.get(5)?, 5)?,
            rpm: row.get(6)?,
            tpm: row.get(7)?,
            max_parallel: row.get(8)?,
            token_budget: unsigned(row.get(9)?),
            budget_period_s: unsigned(row.get(10)?),
            expires_at: row.get(11)?,
        },
        hash,
        created_at: row.get(12)?,
        rotated_at: row.get(13)?,
        revoked_at: row.get(14)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> KeySpec {
        KeySpec {
            name: name.into(),
            models: Some(vec!["echo".into()]),
            features: Some(vec![Feature::Chat]),
            rpm: Some(5),
            token_budget: Some(1000),
            budget_period_s: Some(86_400),
            ..KeySpec::default()
        }
    }

    #[test]
    fn create_list_rotate_revoke_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&dir.path().join("sub/keys.db")).unwrap();
        let issued = store.create(spec("ci")).unwrap();
        let (id, secret) = secret::split(&issued.key).unwrap();
        assert_eq!(id, issued.record.id);
        let listed = store.list().unwrap();
        assert_eq!(listed, vec![issued.record.clone()]);
        assert!(secret::matches(secret, &listed[0].hash));
        assert_eq!(listed[0].caller().limits.rpm, Some(5));

        let rotated = store.rotate(id).unwrap();
        let (_, new_secret) = secret::split(&rotated.key).unwrap();
        let now = store.get(id).unwrap();
        assert!(
            !secret::matches(secret, &now.hash),
            "the old secret is gone"
        );
        assert!(secret::matches(new_secret, &now.hash));
        assert!(now.rotated_at.is_some());

        let revoked = store.revoke(id).unwrap();
        assert!(!revoked.active(now_unix()));
        assert!(matches!(store.rotate(id), Err(StoreError::Revoked(_))));
        assert!(matches!(
            store.revoke("dak_000000000000"),
            Err(StoreError::NotFound(_))
        ));
        // The JSON a list prints never has the hash or a secret.
        let json = serde_json::to_string(&store.list().unwrap()).unwrap();
        assert!(
            !json.contains("hash") && !json.contains(new_secret),
            "{json}"
        );
    }

    #[test]
    fn another_connections_write_changes_the_data_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let gateway = KeyStore::open(&path).unwrap();
        let cli = KeyStore::open(&path).unwrap();
        let before = gateway.data_version().unwrap();
        cli.create(spec("x")).unwrap();
        assert_ne!(gateway.data_version().unwrap(), before);
    }

    #[test]
    fn policies_that_cannot_work_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&dir.path().join("keys.db")).unwrap();
        for bad in [
            KeySpec::default(),
            KeySpec {
                rpm: Some(0),
                ..spec("a")
            },
            KeySpec {
                budget_period_s: None,
                ..spec("a")
            },
        ] {
            assert!(matches!(store.create(bad), Err(StoreError::Invalid(_))));
        }
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn expired_keys_are_not_active() {
        let mut r = KeyRecord {
            id: "dak_000000000000".into(),
            spec: spec("x"),
            created_at: 0,
            rotated_at: None,
            revoked_at: None,
            hash: [0; 32],
        };
        assert!(r.active(100));
        r.spec.expires_at = Some(100);
        assert!(r.active(99) && !r.active(100));
    }
}
