//! The Redis store's work off the request path, in one tracked task: places given back when
//! answers end (batched in one pipeline), answers' tokens counted (`spend.lua`), and every
//! [`LEASE_REFRESH`] the places this replica still holds pushed [`LEASE_TTL`] ahead, so that
//! only the places of a replica that stopped refreshing expire. It ends when the store and
//! every admission are gone, or at `cancel`, after giving back what it still holds.

use super::{Keys, LEASE_REFRESH, LEASE_TTL, SPEND, Shared, millis};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

/// Longest the worker waits for one batch: nobody waits on it, so more than a limit check.
const BATCH_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages handled in one batch at most.
const BATCH: usize = 512;

pub enum Work {
    /// A place the admit script took: refreshed until released.
    Hold { keys: Arc<Keys>, id: String },
    /// A place to give back.
    Release { keys: Arc<Keys>, id: String },
    /// Tokens an answer used, when it ended (`clock` ms).
    Spend {
        keys: Arc<Keys>,
        at_ms: u64,
        tokens: u64,
        tpm: u32,
        period_ms: u64,
    },
    /// Refresh the places held now.
    #[cfg(test)]
    Refresh,
    /// Answered once everything sent before it is done.
    #[cfg(test)]
    Flush(tokio::sync::oneshot::Sender<()>),
}

pub async fn run(shared: Arc<Shared>, mut queue: Receiver<Work>, cancel: CancellationToken) {
    // Lease id → its caller's keys.
    let mut held: HashMap<String, Arc<Keys>> = HashMap::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut refresh =
        tokio::time::interval_at(tokio::time::Instant::now() + LEASE_REFRESH, LEASE_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            n = queue.recv_many(&mut batch, BATCH) => {
                if n == 0 {
                    // The store and every admission are gone: nothing is held.
                    return;
                }
                apply(&shared, &mut held, &mut batch).await;
            }
            _ = refresh.tick() => refresh_leases(&shared, &held).await,
        }
    }
    // Stopping: what is queued, then every place this replica still holds.
    queue.close();
    while let Ok(work) = queue.try_recv() {
        batch.push(work);
    }
    batch.extend(
        held.drain()
            .map(|(id, keys)| Work::Release { keys, id })
            .collect::<Vec<_>>(),
    );
    apply(&shared, &mut held, &mut batch).await;
}

async fn apply(shared: &Shared, held: &mut HashMap<String, Arc<Keys>>, batch: &mut Vec<Work>) {
    let mut releases = ::redis::pipe();
    let mut released = 0;
    #[cfg(test)]
    let mut flushed = Vec::new();
    for work in batch.drain(..) {
        match work {
            Work::Hold { keys, id } => {
                held.insert(id, keys);
            }
            Work::Release { keys, id } => {
                held.remove(&id);
                releases.zrem(&keys.leases, &id).ignore();
                released += 1;
            }
            Work::Spend {
                keys,
                at_ms,
                tokens,
                tpm,
                period_ms,
            } => spend(shared, &keys, at_ms, tokens, tpm, period_ms).await,
            #[cfg(test)]
            Work::Refresh => refresh_leases(shared, held).await,
            #[cfg(test)]
            Work::Flush(done) => flushed.push(done),
        }
    }
    if released > 0 {
        let mut conn = shared.conn.clone();
        let done = tokio::time::timeout(BATCH_TIMEOUT, releases.exec_async(&mut conn)).await;
        if let Some(error) = failure(done) {
            // Those places expire within LEASE_TTL instead.
            shared.failed("release", &error);
        }
    }
    #[cfg(test)]
    for done in flushed {
        let _ = done.send(());
    }
}

async fn spend(shared: &Shared, keys: &Keys, at_ms: u64, tokens: u64, tpm: u32, period_ms: u64) {
    let mut ask = SPEND.prepare_invoke();
    ask.key(&keys.tpm)
        .key(&keys.budget)
        .arg(at_ms)
        .arg(tokens)
        .arg(tpm)
        .arg(period_ms);
    let mut conn = shared.conn.clone();
    let done = tokio::time::timeout(BATCH_TIMEOUT, ask.invoke_async::<()>(&mut conn)).await;
    if let Some(error) = failure(done) {
        shared.failed("spend", &error);
    }
}

/// Pushes the expiry of every place this replica holds [`LEASE_TTL`] ahead; `XX`, so a
/// place that expired meanwhile is not brought back.
async fn refresh_leases(shared: &Shared, held: &HashMap<String, Arc<Keys>>) {
    if held.is_empty() {
        return;
    }
    let expiry = shared.clock.now_ms().saturating_add(millis(LEASE_TTL));
    let mut by_key: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for (id, keys) in held {
        by_key
            .entry(keys.leases.as_str())
            .or_default()
            .push((expiry, id.as_str()));
    }
    let mut pipe = ::redis::pipe();
    for (key, members) in &by_key {
        pipe.cmd("ZADD").arg(*key).arg("XX").arg(members).ignore();
        pipe.pexpire(*key, i64::try_from(millis(LEASE_TTL)).unwrap_or(i64::MAX))
            .ignore();
    }
    let mut conn = shared.conn.clone();
    let done = tokio::time::timeout(BATCH_TIMEOUT, pipe.exec_async(&mut conn)).await;
    if let Some(error) = failure(done) {
        shared.failed("refresh", &error);
    }
}

fn failure<T>(
    done: Result<::redis::RedisResult<T>, tokio::time::error::Elapsed>,
) -> Option<String> {
    match done {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {BATCH_TIMEOUT:?}")),
    }
}
