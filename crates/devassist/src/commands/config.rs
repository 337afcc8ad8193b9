//! `devassist config check FILE`.

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and print every problem with its key path.
    Check { file: std::path::PathBuf },
}

pub fn run(_cmd: ConfigCommand) -> ExitCode {
    ExitCode::SUCCESS
}
