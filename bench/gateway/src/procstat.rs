//! CPU time and memory of a process and its descendants, read from `/proc`, so a gateway
//! made of several processes (LiteLLM's uvicorn workers) is charged for all of them.
//!
//! CPU is `utime + stime` from `/proc/PID/stat` in clock ticks (`USER_HZ`, 100 on every
//! Linux this runs on); memory is `VmRSS` (now) and `VmHWM` (peak) from `/proc/PID/status`.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TICKS_PER_SECOND: f64 = 100.0;

/// `pid` and every process below it.
pub fn tree(pid: u32) -> Vec<u32> {
    let mut parent_of: HashMap<u32, u32> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = stat_fields(p).and_then(|f| f.get(1).and_then(|v| v.parse().ok())) {
                parent_of.insert(p, ppid);
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let current = out[i];
        out.extend(
            parent_of
                .iter()
                .filter(|(_, pp)| **pp == current)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    out
}

/// Fields after the command name (which may hold spaces): state, ppid, ….
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// User + system CPU seconds of the processes.
pub fn cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|p| {
            let f = stat_fields(*p)?;
            let utime: u64 = f.get(11)?.parse().ok()?;
            let stime: u64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) as f64 / TICKS_PER_SECOND)
        })
        .sum()
}

/// Sum of a `/proc/PID/status` field in kB over the processes, in MiB.
pub fn status_mib(pids: &[u32], field: &str) -> f64 {
    let kb: u64 = pids
        .iter()
        .filter_map(|p| {
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum();
    kb as f64 / 1024.0
}

/// What a gateway used during one phase.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Usage {
    pub wall_s: f64,
    pub cpu_s: f64,
    /// Average cores busy: cpu_s / wall_s.
    pub cores: f64,
    /// Largest VmRSS sampled during the phase (every 100 ms).
    pub max_rss_mib: f64,
    /// VmHWM at the end of the phase: the peak since the process started.
    pub hwm_mib: f64,
}

impl Usage {
    /// Both phases together, as if they were one.
    pub fn merge(&self, other: &Self) -> Self {
        let (wall_s, cpu_s) = (self.wall_s + other.wall_s, self.cpu_s + other.cpu_s);
        Self {
            wall_s,
            cpu_s,
            cores: if wall_s > 0.0 { cpu_s / wall_s } else { 0.0 },
            max_rss_mib: self.max_rss_mib.max(other.max_rss_mib),
            hwm_mib: self.hwm_mib.max(other.hwm_mib),
        }
    }
}

/// Watches a process tree from `start` until `finish`.
pub struct Monitor {
    pids: Vec<u32>,
    began: Instant,
    cpu0: f64,
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<f64>,
}

impl Monitor {
    /// `None` monitors nothing (the direct baseline has no gateway).
    pub fn start(root: Option<u32>) -> Self {
        let pids = root.map(tree).unwrap_or_default();
        let stop = Arc::new(AtomicBool::new(false));
        let (watched, flag) = (pids.clone(), stop.clone());
        // A plain thread: sampling must not queue behind the load generator's tasks.
        let sampler = std::thread::spawn(move || {
            let mut max = 0.0f64;
            while !flag.load(Ordering::Relaxed) {
                if !watched.is_empty() {
                    max = max.max(status_mib(&watched, "VmRSS:"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            max
        });
        Self {
            cpu0: cpu_seconds(&pids),
            pids,
            began: Instant::now(),
            stop,
            sampler,
        }
    }

    pub fn finish(self) -> Usage {
        let wall_s = self.began.elapsed().as_secs_f64();
        let cpu_s = cpu_seconds(&self.pids) - self.cpu0;
        self.stop.store(true, Ordering::Relaxed);
        let sampled = self.sampler.join().unwrap_or(0.0);
        let now = status_mib(&self.pids, "VmRSS:");
        Usage {
            wall_s,
            cpu_s,
            cores: if wall_s > 0.0 { cpu_s / wall_s } else { 0.0 },
            max_rss_mib: sampled.max(now),
            hwm_mib: status_mib(&self.pids, "VmHWM:"),
        }
    }
}
