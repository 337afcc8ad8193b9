//! `devassist supervise --parent PID -- PROGRAM ARGS…`: the small parent the gateway puts
//! between itself and each `process` backend so that nothing the backend starts outlives
//! the gateway (see `devassist_server::pool::supervise`). Internal: the gateway runs it.

use std::ffi::OsString;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct SuperviseArgs {
    /// The gateway's pid: the supervisor does not start the backend if its parent is
    /// already another process.
    #[arg(long)]
    pub parent: u32,
    /// The open-file soft limit to run the backend with.
    #[arg(long)]
    pub nofile: Option<u64>,
    /// The backend's program and arguments, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<OsString>,
}

pub fn run(args: SuperviseArgs) -> ExitCode {
    devassist_server::pool::supervise::run(args.parent, args.nofile, args.command)
}
