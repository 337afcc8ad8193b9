//! `devassist config check FILE`: prints every problem with its key path and exits
//! non-zero, or prints a summary of what the file configures.

use devassist_server::config;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and print every problem with its key path.
    Check { file: std::path::PathBuf },
}

pub fn run(cmd: ConfigCommand) -> ExitCode {
    match cmd {
        ConfigCommand::Check { file } => match config::load(Some(&file)) {
            Ok(s) => {
                println!(
                    "{}: ok ({} backends, {} models, listening on {})",
                    file.display(),
                    s.backends.len(),
                    s.models.len(),
                    s.server.listen
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                for p in &e.problems {
                    eprintln!("{}: {p}", file.display());
                }
                eprintln!("{} problem(s) found", e.problems.len());
                ExitCode::from(1)
            }
        },
    }
}
