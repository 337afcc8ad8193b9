//! Wake-duration statistics of one managed backend: count, min/avg/max, the last one, and
//! a cumulative histogram with fixed bounds (Prometheus-style `le` buckets), so `/status`
//! can show how long a cold start costs without keeping every sample.

use serde::Serialize;
use std::time::Duration;

/// Upper bounds of the histogram buckets, in milliseconds; the last bucket is `+Inf`.
pub const BOUNDS_MS: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000,
];

#[derive(Debug, Clone, Default)]
pub struct WakeStats {
    count: u64,
    total: Duration,
    min: Option<Duration>,
    max: Option<Duration>,
    last: Option<Duration>,
    /// `buckets[i]` counts wakes ≤ `BOUNDS_MS[i]` and > the previous bound; the extra
    /// last entry counts the rest.
    buckets: [u64; BOUNDS_MS.len() + 1],
}

/// One histogram bucket as `/status` shows it: wakes that took at most `le_ms`
/// (cumulative; `None` = +Inf).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Bucket {
    pub le_ms: Option<u64>,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WakeSummary {
    pub count: u64,
    pub last_ms: Option<u64>,
    pub min_ms: Option<u64>,
    pub avg_ms: Option<u64>,
    pub max_ms: Option<u64>,
    pub histogram: Vec<Bucket>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

impl WakeStats {
    pub fn record(&mut self, took: Duration) {
        self.count += 1;
        self.total += took;
        self.min = Some(self.min.map_or(took, |m| m.min(took)));
        self.max = Some(self.max.map_or(took, |m| m.max(took)));
        self.last = Some(took);
        let i = BOUNDS_MS
            .iter()
            .position(|&b| ms(took) <= b)
            .unwrap_or(BOUNDS_MS.len());
        if let Some(b) = self.buckets.get_mut(i) {
            *b += 1;
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The wakes' total time (a histogram's sum).
    pub fn sum(&self) -> Duration {
        self.total
    }

    /// Wakes per bucket, not cumulative: `[i]` counts those ≤ `BOUNDS_MS[i]` and above the
    /// bound before; the last entry the rest.
    pub fn bucket_counts(&self) -> &[u64] {
        &self.buckets
    }

    pub fn last(&self) -> Option<Duration> {
        self.last
    }

    pub fn average(&self) -> Option<Duration> {
        let n = u32::try_from(self.count).ok().filter(|&n| n > 0)?;
        Some(self.total / n)
    }

    pub fn summary(&self) -> WakeSummary {
        let mut cumulative = 0;
        let histogram = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                cumulative += n;
                Bucket {
                    le_ms: BOUNDS_MS.get(i).copied(),
                    count: cumulative,
                }
            })
            .collect();
        WakeSummary {
            count: self.count,
            last_ms: self.last.map(ms),
            min_ms: self.min.map(ms),
            avg_ms: self.average().map(ms),
            max_ms: self.max.map(ms),
            histogram,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_cumulative_with_min_avg_max() {
        let mut w = WakeStats::default();
        assert_eq!(w.summary().avg_ms, None);
        for s in [50, 700, 700, 20_000, 4_000_000] {
            w.record(Duration::from_millis(s));
        }
        let s = w.summary();
        assert_eq!(s.count, 5);
        assert_eq!((s.min_ms, s.max_ms), (Some(50), Some(4_000_000)));
        assert_eq!(s.avg_ms, Some((50 + 700 + 700 + 20_000 + 4_000_000) / 5));
        assert_eq!(s.last_ms, Some(4_000_000));
        let at = |le: Option<u64>| s.histogram.iter().find(|b| b.le_ms == le).map(|b| b.count);
        assert_eq!(at(Some(100)), Some(1));
        assert_eq!(at(Some(500)), Some(1));
        assert_eq!(at(Some(1_000)), Some(3));
        assert_eq!(at(Some(30_000)), Some(4));
        assert_eq!(at(Some(600_000)), Some(4));
        assert_eq!(at(None), Some(5), "+Inf holds every wake");
    }
}
