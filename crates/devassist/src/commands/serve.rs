//! `devassist serve`.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long, short)]
    pub config: Option<std::path::PathBuf>,
    /// Address to listen on, overriding `server.listen`.
    #[arg(long)]
    pub listen: Option<String>,
}

pub fn run(_args: ServeArgs) -> ExitCode {
    ExitCode::SUCCESS
}
