//! `[metrics]` (where `/metrics` is served) and `[usage]` (the per-request usage records in
//! SQLite under `server.data_dir`), and the data directory's default.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
pub struct RawMetrics {
    /// Serve `/metrics` on this address of its own (`0.0.0.0:9464`) instead of the main
    /// listener. Default: the main listener.
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawUsage {
    /// Record one row per model request (who, what, tokens, timings, status) in
    /// `usage.sqlite3` under `server.data_dir`. Default true.
    pub enabled: Option<bool>,
    /// Days a usage record is kept; older ones are deleted every hour. Default 90.
    pub retention_days: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct MetricsSettings {
    /// `None`: `/metrics` is on the main listener.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct UsageSettings {
    pub enabled: bool,
    pub retention_days: u32,
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 90,
        }
    }
}

/// The file usage records live in, under the data directory.
pub const USAGE_FILE: &str = "usage.sqlite3";

pub fn validate_metrics(raw: RawMetrics, p: &mut impl FnMut(String, String)) -> MetricsSettings {
    let listen = raw.listen.and_then(|l| match l.parse() {
        Ok(addr) => Some(addr),
        Err(e) => {
            p(
                "metrics.listen".into(),
                format!("`{l}` is not an address: {e}"),
            );
            None
        }
    });
    MetricsSettings { listen }
}

pub fn validate_usage(raw: RawUsage, p: &mut impl FnMut(String, String)) -> UsageSettings {
    let mut out = UsageSettings::default();
    if let Some(enabled) = raw.enabled {
        out.enabled = enabled;
    }
    if let Some(days) = raw.retention_days {
        if days == 0 {
            p(
                "usage.retention_days".into(),
                "must be at least 1 (set usage.enabled = false to keep no records)".into(),
            );
        }
        out.retention_days = days;
    }
    out
}

/// `server.data_dir`, else `devassist` under the XDG data directory (`$XDG_DATA_HOME`,
/// default `~/.local/share`), else `./devassist-data`.
pub fn data_dir(configured: Option<String>, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = configured.filter(|d| !d.trim().is_empty()) {
        return PathBuf::from(dir);
    }
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let data = var("XDG_DATA_HOME").or_else(|| var("HOME").map(|h| h.join(".local").join("share")));
    match data {
        Some(data) => data.join("devassist"),
        None => PathBuf::from("devassist-data"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_is_configured_or_under_the_xdg_data_home() {
        let none = |_: &str| None;
        assert_eq!(
            data_dir(Some("/srv/d".into()), &none),
            PathBuf::from("/srv/d")
        );
        let xdg = |n: &str| (n == "XDG_DATA_HOME").then(|| "/x".to_string());
        assert_eq!(data_dir(None, &xdg), PathBuf::from("/x/devassist"));
        let home = |n: &str| (n == "HOME").then(|| "/h".to_string());
        assert_eq!(
            data_dir(None, &home),
            PathBuf::from("/h/.local/share/devassist")
        );
        assert_eq!(data_dir(None, &none), PathBuf::from("devassist-data"));
    }

    #[test]
    fn usage_and_metrics_are_validated() {
        let mut problems = Vec::new();
        let mut p = |path: String, msg: String| problems.push((path, msg));
        let u = validate_usage(
            RawUsage {
                enabled: Some(false),
                retention_days: Some(0),
            },
            &mut p,
        );
        assert!(!u.enabled);
        let m = validate_metrics(
            RawMetrics {
                listen: Some("nowhere".into()),
            },
            &mut p,
        );
        assert!(m.listen.is_none());
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["usage.retention_days", "metrics.listen"]);
    }
}
