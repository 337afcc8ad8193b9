//! The results of one run: what was measured, on what machine, with which versions.
//! Saved as `gateway.json` (read by the plot script) and rendered to `gateway.md`.

use crate::BoxError;
use crate::load::Summary;
use crate::load::rate::RateResult;
use crate::load::streams::StreamResult;
use crate::plan::Options;
use crate::procstat::Usage;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::Command;
use std::time::{Instant, SystemTime};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub memory_gib: f64,
    /// `/proc/loadavg` when the run started: other work on the machine skews results.
    pub loadavg_start: String,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: f64 = field(&meminfo, "MemTotal")
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Self {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name"),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            memory_gib: mem_kb / 1024.0 / 1024.0,
            loadavg_start: Self::loadavg(),
        }
    }

    pub fn loadavg() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One fixed-rate run against one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RatePoint {
    pub target: String,
    pub result: RateResult,
    /// The gateway's CPU and memory during the run (none for the direct baseline).
    pub usage: Option<Usage>,
    /// The interleaved slices `result` merges, one per round (empty for a target measured
    /// in one piece).
    #[serde(default)]
    pub rounds: Vec<Round>,
}

/// One interleaved slice of a fixed-rate run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Round {
    pub round: u32,
    /// From the due time.
    pub latency: Summary,
    /// From the actual send.
    pub service: Summary,
    pub lag: Summary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamPoint {
    pub target: String,
    pub result: StreamResult,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Search {
    pub target: String,
    /// The highest rate tried that had < 1 % errors.
    pub max_ok_rps: f64,
    pub steps: Vec<RatePoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub machine: Machine,
    pub started: String,
    pub duration_s: f64,
    pub devassist_version: String,
    pub git_commit: Option<String>,
    pub litellm_version: Option<String>,
    pub litellm_workers: usize,
    pub quick: bool,
    /// Whether the latency phases ran under SCHED_RR.
    #[serde(default)]
    pub realtime: bool,
    /// Only the fixed-rate phases ran.
    #[serde(default)]
    pub latency_only: bool,
    /// The upstream, when it was not the harness's own mock.
    #[serde(default)]
    pub upstream: Option<String>,
    pub timeout_ms: u64,
    pub stream_chunks: u32,
    pub stream_interval_ms: u64,
    pub fixed: Vec<RatePoint>,
    pub streams: Vec<StreamPoint>,
    /// devassist alone holding the largest stream count for a minute (steady-state memory).
    #[serde(default)]
    pub soak: Option<StreamPoint>,
    #[serde(default)]
    pub soak_s: f64,
    pub search: Vec<Search>,
    pub loadavg_end: Option<String>,
}

impl Report {
    pub fn new(machine: Machine, opts: &Options) -> Self {
        let version = Command::new(&opts.devassist)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        Self {
            machine,
            started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            duration_s: 0.0,
            devassist_version: version,
            git_commit: commit,
            litellm_version: None,
            litellm_workers: opts.litellm_workers,
            quick: opts.quick,
            realtime: false,
            latency_only: opts.latency_only,
            upstream: opts.upstream.clone(),
            timeout_ms: crate::plan::TIMEOUT.as_millis() as u64,
            stream_chunks: crate::plan::CHUNKS,
            stream_interval_ms: crate::plan::INTERVAL.as_millis() as u64,
            fixed: Vec::new(),
            streams: Vec::new(),
            soak: None,
            soak_s: 0.0,
            search: Vec::new(),
            loadavg_end: None,
        }
    }

    pub fn finish(&mut self, loadavg: String) {
        self.loadavg_end = Some(loadavg);
    }

    /// Writes `gateway.json` and `gateway.md` under `out`.
    pub fn save(&mut self, out: &Path, began: Instant) -> Result<(), BoxError> {
        self.duration_s = began.elapsed().as_secs_f64();
        std::fs::create_dir_all(out)?;
        std::fs::write(out.join("gateway.json"), serde_json::to_vec_pretty(self)?)?;
        std::fs::write(out.join("gateway.md"), crate::markdown::render(self))?;
        Ok(())
    }

    /// The direct baseline's run at `rps` in the fixed-rate phase.
    pub fn direct_at(&self, rps: f64) -> Option<&RatePoint> {
        self.fixed
            .iter()
            .find(|p| p.target == "direct" && p.result.target_rps == rps)
    }

    pub fn direct_streams(&self, concurrency: usize) -> Option<&StreamPoint> {
        self.streams
            .iter()
            .find(|p| p.target == "direct" && p.result.concurrency == concurrency)
    }

    pub fn max_rate(&self, target: &str) -> Option<f64> {
        self.search
            .iter()
            .find(|s| s.target == target)
            .map(|s| s.max_ok_rps)
    }
}
