//! `devassist keys`: create, list, rotate and revoke API keys in the key store the gateway
//! reads (`[auth] keys_db`, default `keys.db` in the data directory). Works on the file
//! directly, so it needs no running gateway; a running one sees each change within a
//! second. A new or rotated key's secret is printed once and stored only as a hash.

use devassist_server::auth::request::KeyRequest;
use devassist_server::auth::store::{Issued, KeyRecord, KeyStore, now_unix};
use devassist_server::config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct KeysArgs {
    /// Configuration file (TOML) whose `[auth] keys_db` / `server.data_dir` locate the store.
    #[arg(long, short, env = "DEVASSIST_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The key store file, overriding the configuration.
    #[arg(long, global = true)]
    pub keys_db: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret (once).
    Create(CreateArgs),
    /// List every key (ids, names, policies; never secrets).
    List,
    /// Give a key a new secret and print it (once); the old secret stops working.
    Rotate { id: String },
    /// Revoke a key for good.
    Revoke { id: String },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// Who or what the key is for.
    #[arg(long)]
    pub name: String,
    /// Models the key may use (configured names or aliases), comma-separated. Default: all.
    #[arg(long, value_delimiter = ',')]
    pub models: Option<Vec<String>>,
    /// Features the key may use (code_completion, code_generation, chat, embeddings,
    /// docs_search), comma-separated. Default: all.
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<u32>,
    /// Tokens (prompt + completion) per minute.
    #[arg(long)]
    pub tpm: Option<u32>,
    /// Requests in progress at once.
    #[arg(long)]
    pub max_parallel: Option<u32>,
    /// Tokens allowed per `--budget-period`.
    #[arg(long, requires = "budget_period")]
    pub token_budget: Option<u64>,
    /// The budget's period: `30d`, `1w`, `24h`.
    #[arg(long, requires = "token_budget")]
    pub budget_period: Option<String>,
    /// When the key stops working: `90d` from now, a date (`2027-01-31`) or an RFC 3339 time.
    #[arg(long)]
    pub expires: Option<String>,
    /// An admin key: reads `/status` and `/metrics`, manages keys and Ollama models.
    #[arg(long)]
    pub admin: bool,
}

fn store_path(args: &KeysArgs) -> Result<PathBuf, String> {
    if let Some(p) = &args.keys_db {
        return Ok(p.clone());
    }
    let settings =
        config::load(args.config.as_deref()).map_err(|e| format!("invalid configuration:\n{e}"))?;
    Ok(settings.auth.keys_db(&settings.server.data_dir))
}

pub fn run(args: KeysArgs) -> ExitCode {
    match execute(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devassist: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: &KeysArgs) -> Result<(), String> {
    let path = store_path(args)?;
    let store = KeyStore::open(&path).map_err(|e| e.to_string())?;
    match &args.command {
        KeysCommand::Create(c) => {
            let request = KeyRequest {
                name: c.name.clone(),
                models: c.models.clone(),
                features: c.features.clone(),
                rpm: c.rpm,
                tpm: c.tpm,
                max_parallel: c.max_parallel,
                token_budget: c.token_budget,
                budget_period: c.budget_period.clone(),
                expires: c.expires.clone(),
                admin: c.admin,
            };
            let spec = request.into_spec(now_unix())?;
            let issued = store.create(spec).map_err(|e| e.to_string())?;
            print_issued(&issued, args.json, "Created")
        }
        KeysCommand::List => {
            let keys = store.list().map_err(|e| e.to_string())?;
            if args.json {
                println!("{}", to_json(&keys)?);
            } else {
                print!("{}", table(&keys, now_unix()));
            }
            Ok(())
        }
        KeysCommand::Rotate { id } => {
            let issued = store.rotate(id).map_err(|e| e.to_string())?;
            print_issued(&issued, args.json, "Rotated")
        }
        KeysCommand::Revoke { id } => {
            let record = store.revoke(id).map_err(|e| e.to_string())?;
            if args.json {
                println!("{}", to_json(&record)?);
            } else {
                println!("Revoked {} ({})", record.id, record.spec.name);
            }
            Ok(())
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v).map_err(|e| e.to_string())
}

fn print_issued(issued: &Issued, json: bool, what: &str) -> Result<(), String> {
    if json {
        println!("{}", to_json(issued)?);
    } else {
        let r = &issued.record;
        eprintln!(
            "{what} {} ({}). The key is shown only now; store it safely:",
            r.id, r.spec.name
        );
        println!("{}", issued.key);
    }
    Ok(())
}

fn table(keys: &[KeyRecord], now: i64) -> String {
    let mut out = format!(
        "{:<17} {:<20} {:<8} {:<24} {}\n",
        "ID", "NAME", "STATE", "MODELS / FEATURES", "LIMITS"
    );
    for k in keys {
        let s = &k.spec;
        let state = if k.revoked_at.is_some() {
            "revoked"
        } else if !k.active(now) {
            "expired"
        } else if s.admin {
            "admin"
        } else {
            "active"
        };
        let scope = format!(
            "{} / {}",
            s.models.as_ref().map_or("all".into(), |m| m.join(",")),
            s.features.as_ref().map_or("all".into(), |f| f
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(","))
        );
        let mut limits = Vec::new();
        if let Some(v) = s.rpm {
            limits.push(format!("rpm={v}"));
        }
        if let Some(v) = s.tpm {
            limits.push(format!("tpm={v}"));
        }
        if let Some(v) = s.max_parallel {
            limits.push(format!("parallel={v}"));
        }
        if let (Some(t), Some(p)) = (s.token_budget, s.budget_period_s) {
            limits.push(format!(
                "budget={t}/{}",
                humantime::format_duration(std::time::Duration::from_secs(p))
            ));
        }
        if let Some(at) = s.expires_at {
            limits.push(format!("expires_in={}s", at - now));
        }
        out.push_str(&format!(
            "{:<17} {:<20} {:<8} {:<24} {}\n",
            k.id,
            s.name,
            state,
            scope,
            if limits.is_empty() {
                "-".into()
            } else {
                limits.join(" ")
            }
        ));
    }
    out
}
