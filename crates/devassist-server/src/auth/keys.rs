//! The running gateway's view of the key store: every key in memory, verified without I/O,
//! and re-read within [`REFRESH`] of any change another process commits (a `devassist keys
//! revoke` from a shell), or at once after a change made through the admin API.

use super::secret;
use super::store::{Issued, KeyRecord, KeySpec, KeyStore, StoreError, now_unix};
use devassist_core::Caller;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often the store is checked for changes made elsewhere.
pub const REFRESH: Duration = Duration::from_millis(250);

/// Why a presented key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a key we issued, or a wrong secret.
    Unknown,
    Revoked,
    Expired,
}

struct Entry {
    record: KeyRecord,
    caller: Arc<Caller>,
}

pub struct Keys {
    store: Arc<Mutex<KeyStore>>,
    entries: RwLock<Arc<HashMap<String, Entry>>>,
}

impl Keys {
    /// Opens the store and reads every key.
    pub fn open(store: KeyStore) -> Result<Arc<Self>, StoreError> {
        let records = store.list()?;
        let keys = Arc::new(Self {
            store: Arc::new(Mutex::new(store)),
            entries: RwLock::new(Arc::new(HashMap::new())),
        });
        keys.replace(records);
        Ok(keys)
    }

    fn replace(&self, records: Vec<KeyRecord>) {
        let map = records
            .into_iter()
            .map(|record| {
                let caller = Arc::new(record.caller());
                (record.id.clone(), Entry { record, caller })
            })
            .collect();
        if let Ok(mut e) = self.entries.write() {
            *e = Arc::new(map);
        }
    }

    /// The caller for a presented key, or why not. No I/O.
    pub fn verify(&self, presented: &str) -> Result<Arc<Caller>, Refusal> {
        let (id, secret) = secret::split(presented).ok_or(Refusal::Unknown)?;
        let entries = self
            .entries
            .read()
            .map(|e| e.clone())
            .map_err(|_| Refusal::Unknown)?;
        let entry = entries.get(id).ok_or(Refusal::Unknown)?;
        if !secret::matches(secret, &entry.record.hash) {
            return Err(Refusal::Unknown);
        }
        if entry.record.revoked_at.is_some() {
            return Err(Refusal::Revoked);
        }
        if !entry.record.active(now_unix()) {
            return Err(Refusal::Expired);
        }
        Ok(entry.caller.clone())
    }

    /// Runs `f` on the store off the async threads, then re-reads every key.
    pub async fn change<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&KeyStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let keys = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = keys
                .store
                .lock()
                .map_err(|_| StoreError::Invalid("the key store lock is poisoned".into()))?;
            let out = f(&store)?;
            let records = store.list()?;
            drop(store);
            keys.replace(records);
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("key store task failed: {e}")))?
    }

    pub async fn create(self: &Arc<Self>, spec: KeySpec) -> Result<Issued, StoreError> {
        self.change(move |s| s.create(spec)).await
    }

    pub async fn rotate(self: &Arc<Self>, id: String) -> Result<Issued, StoreError> {
        self.change(move |s| s.rotate(&id)).await
    }

    pub async fn revoke(self: &Arc<Self>, id: String) -> Result<KeyRecord, StoreError> {
        self.change(move |s| s.revoke(&id)).await
    }

    pub async fn list(self: &Arc<Self>) -> Result<Vec<KeyRecord>, StoreError> {
        self.change(|s| s.list()).await
    }

    /// Re-reads the keys when another connection changed the store since `seen`; returns
    /// the version now seen.
    fn refresh_if_changed(&self, seen: Option<i64>) -> Result<i64, StoreError> {
        let store = self
            .store
            .lock()
            .map_err(|_| StoreError::Invalid("the key store lock is poisoned".into()))?;
        let now = store.data_version()?;
        if seen != Some(now) {
            let records = store.list()?;
            drop(store);
            self.replace(records);
        }
        Ok(now)
    }

    /// Watches the store for changes made by other processes until `cancel`.
    pub fn watch(self: &Arc<Self>, tasks: &TaskTracker, cancel: &CancellationToken) {
        let keys = self.clone();
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let mut seen = None;
            let mut tick = tokio::time::interval(REFRESH);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let k = keys.clone();
                match tokio::task::spawn_blocking(move || k.refresh_if_changed(seen)).await {
                    Ok(Ok(v)) => seen = Some(v),
                    Ok(Err(e)) => tracing::warn!(error = %e, "Cannot re-read the API keys"),
                    Err(e) => tracing::warn!(error = %e, "API key refresh task failed"),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_revoked_by_another_process_stops_within_the_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let keys = Keys::open(KeyStore::open(&path).unwrap()).unwrap();
        let tasks = TaskTracker::new();
        let cancel = CancellationToken::new();
        keys.watch(&tasks, &cancel);

        // The CLI is another connection, as another process would be.
        let cli = KeyStore::open(&path).unwrap();
        let issued = cli
            .create(KeySpec {
                name: "ci".into(),
                ..KeySpec::default()
            })
            .unwrap();
        let seen = |keys: &Arc<Keys>| keys.verify(&issued.key).map(|c| c.id.clone());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while seen(&keys).is_err() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen(&keys), Ok(issued.record.id.clone()), "a new key works");
        let wrong = format!("{}_{}", issued.record.id, "x".repeat(43));
        assert_eq!(keys.verify(&wrong).err(), Some(Refusal::Unknown));

        cli.revoke(&issued.record.id).unwrap();
        let revoked_at = tokio::time::Instant::now();
        while seen(&keys).is_ok() {
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "still accepted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen(&keys), Err(Refusal::Revoked));
        cancel.cancel();
        tasks.close();
        tasks.wait().await;
    }

    #[tokio::test]
    async fn changes_through_the_gateway_apply_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::open(KeyStore::open(&dir.path().join("k.db")).unwrap()).unwrap();
        let issued = keys
            .create(KeySpec {
                name: "a".into(),
                expires_at: Some(now_unix() - 1),
                ..KeySpec::default()
            })
            .await
            .unwrap();
        assert_eq!(keys.verify(&issued.key).err(), Some(Refusal::Expired));
        let live = keys
            .create(KeySpec {
                name: "b".into(),
                ..KeySpec::default()
            })
            .await
            .unwrap();
        assert!(keys.verify(&live.key).is_ok());
        let rotated = keys.rotate(live.record.id.clone()).await.unwrap();
        assert_eq!(keys.verify(&live.key).err(), Some(Refusal::Unknown));
        assert!(keys.verify(&rotated.key).is_ok());
        keys.revoke(live.record.id.clone()).await.unwrap();
        assert_eq!(keys.verify(&rotated.key).err(), Some(Refusal::Revoked));
        assert_eq!(keys.list().await.unwrap().len(), 2);
    }
}
