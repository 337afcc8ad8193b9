//! `devassist usage`: sums up the usage records (`usage.sqlite3` under the data directory)
//! since a time, per key, user, model, feature or surface, as a table, CSV or JSON. Reads
//! the database directly (read-only), so it works while the gateway runs, and after.

use devassist_server::config::{self, telemetry::USAGE_FILE};
use devassist_server::telemetry::usage::report::{self, By, Summary};
use devassist_server::telemetry::usage::store::Store;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

#[derive(clap::Args)]
pub struct UsageArgs {
    /// Records since this long ago (`1h`, `24h`, `7d`) or since an RFC 3339 time.
    #[arg(long, default_value = "24h")]
    pub since: String,
    /// What to sum up by.
    #[arg(long, value_enum, default_value_t = ByArg::Model)]
    pub by: ByArg,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Configuration file whose `server.data_dir` holds the records.
    #[arg(long, short, env = "DEVASSIST_CONFIG")]
    pub config: Option<PathBuf>,
    /// The usage database itself, instead of the one the configuration names.
    #[arg(long)]
    pub db: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ByArg {
    Key,
    User,
    Model,
    Feature,
    Surface,
}

impl From<ByArg> for By {
    fn from(b: ByArg) -> By {
        match b {
            ByArg::Key => By::Key,
            ByArg::User => By::User,
            ByArg::Model => By::Model,
            ByArg::Feature => By::Feature,
            ByArg::Surface => By::Surface,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

pub fn run(args: UsageArgs) -> ExitCode {
    match summarize(&args) {
        Ok((since, by, rows)) => {
            let out = match args.format {
                Format::Table => Ok(as_table(by, &rows)),
                Format::Csv => as_csv(by, &rows),
                Format::Json => as_json(since, by, &rows),
            };
            match out {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("devassist: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err((e, code)) => {
            eprintln!("devassist: {e}");
            ExitCode::from(code)
        }
    }
}

type Summed = (SystemTime, By, Vec<Summary>);

fn summarize(args: &UsageArgs) -> Result<Summed, (String, u8)> {
    let since = report::parse_since(&args.since, SystemTime::now()).map_err(|e| (e, 2))?;
    let path = match &args.db {
        Some(db) => db.clone(),
        None => {
            let settings = config::load(args.config.as_deref())
                .map_err(|e| (format!("invalid configuration:\n{e}"), 2))?;
            settings.server.data_dir.join(USAGE_FILE)
        }
    };
    if !path.exists() {
        return Err((
            format!(
                "no usage records at {} (is [usage] enabled, and is this the gateway's \
                 server.data_dir?)",
                path.display()
            ),
            1,
        ));
    }
    let by = By::from(args.by);
    let store = Store::open_read_only(&path).map_err(|e| (e.to_string(), 1))?;
    let rows = report::from_store(&store, since, by).map_err(|e| (e.to_string(), 1))?;
    Ok((since, by, rows))
}

const HEADERS: [&str; 7] = [
    "requests",
    "prompt_tokens",
    "completion_tokens",
    "errors",
    "cancelled",
    "p50_ttft_ms",
    "mean_duration_ms",
];

fn cells(s: &Summary) -> [String; 7] {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
    [
        s.requests.to_string(),
        s.prompt_tokens.to_string(),
        s.completion_tokens.to_string(),
        s.errors.to_string(),
        s.cancelled.to_string(),
        ms(s.p50_ttft_ms),
        ms(s.mean_duration_ms),
    ]
}

fn group(s: &Summary) -> &str {
    s.group.as_deref().unwrap_or("-")
}

fn as_table(by: By, rows: &[Summary]) -> String {
    if rows.is_empty() {
        return "no requests in that time\n".into();
    }
    let header: Vec<&str> = std::iter::once(by.as_str()).chain(HEADERS).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            std::iter::once(group(s).to_string())
                .chain(cells(s))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            body.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain(std::iter::once(header[i].len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |cols: &mut dyn Iterator<Item = &str>| {
        let mut first = true;
        for (i, c) in cols.enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if !first {
                out.push_str("  ");
            }
            if i == 0 {
                out.push_str(&format!("{c:<w$}"));
            } else {
                out.push_str(&format!("{c:>w$}"));
            }
            first = false;
        }
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in &body {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

fn as_csv(by: By, rows: &[Summary]) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = std::iter::once(by.as_str()).chain(HEADERS);
    w.write_record(header).map_err(|e| e.to_string())?;
    for s in rows {
        let c = cells(s);
        let blank = |v: &str| {
            if v == "-" {
                String::new()
            } else {
                v.to_string()
            }
        };
        let record =
            std::iter::once(s.group.clone().unwrap_or_default()).chain(c.iter().map(|v| blank(v)));
        w.write_record(record).map_err(|e| e.to_string())?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

#[derive(Serialize)]
struct Json<'a> {
    since: String,
    by: &'static str,
    rows: &'a [Summary],
}

fn as_json(since: SystemTime, by: By, rows: &[Summary]) -> Result<String, String> {
    let since = chrono::DateTime::<chrono::Utc>::from(since)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let doc = Json {
        since,
        by: by.as_str(),
        rows,
    };
    serde_json::to_string_pretty(&doc)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(group: Option<&str>, requests: u64) -> Summary {
        Summary {
            group: group.map(Into::into),
            requests,
            prompt_tokens: 12,
            completion_tokens: 3,
            errors: 1,
            cancelled: 0,
            p50_ttft_ms: Some(41.6),
            mean_duration_ms: None,
        }
    }

    #[test]
    fn the_table_aligns_and_shows_missing_values_as_dashes() {
        let t = as_table(By::Key, &[summary(Some("team-a"), 120), summary(None, 3)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("key     requests"), "{t}");
        assert!(lines[1].starts_with("team-a       120"), "{t}");
        assert!(lines[2].starts_with("-              3"), "{t}");
        assert!(lines[1].ends_with("42                 -"), "{t}");
        assert_eq!(as_table(By::Key, &[]), "no requests in that time\n");
    }

    #[test]
    fn csv_quotes_and_leaves_missing_values_empty() {
        let out = as_csv(By::Model, &[summary(Some("a,b"), 2)]).unwrap_or_default();
        let mut lines = out.lines();
        assert_eq!(
            lines.next(),
            Some(
                "model,requests,prompt_tokens,completion_tokens,errors,cancelled,p50_ttft_ms,\
                 mean_duration_ms"
            )
        );
        assert_eq!(lines.next(), Some("\"a,b\",2,12,3,1,0,42,"));
    }
}
