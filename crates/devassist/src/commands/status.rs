//! `devassist status`: asks a running gateway for `GET /status` and prints every backend's
//! lifecycle as a table (or the raw JSON). Times come from the server as "seconds ago" and
//! "seconds left", so clocks on the two machines need not agree.

use devassist_backends::http::{GetOptions, get_json};
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The gateway's URL.
    #[arg(long, env = "DEVASSIST_URL", default_value = "http://127.0.0.1:11434")]
    pub url: String,
    /// Print the JSON of `GET /status` instead of a table.
    #[arg(long)]
    pub json: bool,
    /// An admin API key, for a gateway with authentication on.
    #[arg(long, env = "DEVASSIST_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

pub fn run(args: StatusArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("devassist: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!("{}/status", args.url.trim_end_matches('/'));
    match runtime.block_on(fetch(&url, args.api_key)) {
        Ok(v) if args.json => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(v) => {
            print!("{}", render(&v));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("devassist: cannot read {url}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn fetch(url: &str, api_key: Option<String>) -> Result<Value, String> {
    let options = GetOptions {
        api_key,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        ..GetOptions::default()
    };
    get_json(url, &options).await.map_err(|e| e.to_string())
}

/// `90` → `1m30s`; sub-second values keep milliseconds.
fn human(secs: f64) -> String {
    if secs < 1.0 {
        return format!("{}ms", (secs * 1000.0).round() as u64);
    }
    if secs < 10.0 {
        return format!("{secs:.1}s");
    }
    let s = secs.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

fn secs(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn ms(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_f64)
        .map(|m| human(m / 1000.0))
}

fn row(b: &Value) -> Vec<String> {
    let text = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    let count = |k: &str| {
        b.get(k)
            .and_then(Value::as_u64)
            .map_or("-".into(), |n| n.to_string())
    };
    let wake = b.get("wake");
    let wakes = wake
        .and_then(|w| w.get("count"))
        .and_then(Value::as_u64)
        .map_or("-".into(), |n| n.to_string());
    let durations = wake
        .and_then(|w| {
            Some(format!(
                "{}/{}/{}",
                ms(w, "min_ms")?,
                ms(w, "avg_ms")?,
                ms(w, "max_ms")?
            ))
        })
        .unwrap_or_else(|| "-".into());
    let mut error = text("last_error").replace('\n', " ");
    if error.chars().count() > 60 {
        error = format!("{}…", error.chars().take(59).collect::<String>());
    }
    vec![
        text("name"),
        text("provider"),
        text("state"),
        secs(b, "since_s").map_or("-".into(), |s| format!("{} ago", human(s))),
        count("in_flight"),
        count("queued"),
        secs(b, "last_activity_s").map_or("never".into(), |s| format!("{} ago", human(s))),
        secs(b, "idle_deadline_s").map_or("-".into(), |s| format!("in {}", human(s))),
        wakes,
        durations,
        error,
    ]
}

/// The table `devassist status` prints.
pub fn render(status: &Value) -> String {
    let header = [
        "BACKEND",
        "PROVIDER",
        "STATE",
        "SINCE",
        "IN-FLIGHT",
        "QUEUED",
        "LAST ACTIVITY",
        "IDLE STOP",
        "WAKES",
        "WAKE MIN/AVG/MAX",
        "LAST ERROR",
    ];
    let mut rows = vec![header.iter().map(|h| h.to_string()).collect::<Vec<_>>()];
    let backends = status.get("backends").and_then(Value::as_array);
    rows.extend(backends.into_iter().flatten().map(row));
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let models = status.get("models").and_then(Value::as_array);
    for m in models.into_iter().flatten() {
        let name = m.get("name").and_then(Value::as_str).unwrap_or("?");
        let list = m
            .get("backends")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        out.push_str(&format!("model {name} → {list}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_a_row_per_backend() {
        let status = json!({
            "backends": [
                {"name": "remote", "provider": "always_on", "state": "ready", "since_s": null,
                 "in_flight": 2, "queued": 0, "last_activity_s": 3.2, "idle_deadline_s": null,
                 "last_error": null},
                {"name": "llama", "provider": "process", "state": "ready", "since_s": 95.0,
                 "in_flight": 0, "queued": 1, "last_activity_s": null, "idle_deadline_s": 299.6,
                 "last_error": "process exited (signal: 9)\nout of memory",
                 "wake": {"count": 3, "min_ms": 800, "avg_ms": 1300, "max_ms": 2000}}
            ],
            "models": [{"name": "coder", "backends": ["llama", "remote"]}]
        });
        let table = render(&status);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("BACKEND"));
        assert!(lines[1].starts_with("remote"));
        assert!(lines[1].contains("3.2s ago"));
        for cell in [
            "process",
            "1m35s ago",
            "never",
            "in 5m00s",
            "800ms/1.3s/2.0s",
            "process exited (signal: 9) out of memory",
        ] {
            assert!(
                lines[2].contains(cell),
                "{cell} missing from {:?}",
                lines[2]
            );
        }
        assert_eq!(lines[3], "model coder → llama, remote");
    }
}
