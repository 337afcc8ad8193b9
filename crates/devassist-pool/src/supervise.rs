//! The supervisor that runs each `process` backend (`devassist supervise --parent PID --
//! PROGRAM ARGS…`): a tiny parent between the gateway and the backend that makes sure nothing
//! the backend starts outlives the gateway, even when the gateway is killed with SIGKILL.
//!
//! - It asks the kernel for a signal when the gateway dies (`PR_SET_PDEATHSIG`, set on itself
//!   through nix's safe wrapper, then checked against `--parent` so a gateway that died
//!   before that moment is noticed too).
//! - It runs the backend in a new process group and becomes the "child subreaper" of
//!   everything below it, so a grandchild that leaves the group (`setsid`) or is orphaned is
//!   re-parented to the supervisor, not to init, and can still be found and killed.
//! - SIGTERM, SIGINT, SIGHUP: passed on to the backend's group as SIGTERM (a graceful stop;
//!   the gateway decides when that has taken too long).
//! - SIGUSR1 (the gateway's "kill now"): SIGKILL to the group and to every process left below
//!   the supervisor, then exit.
//! - The gateway's death (SIGUSR2, the parent-death signal): SIGTERM to the group, and after
//!   [`ORPHAN_GRACE`] SIGKILL to everything left.
//! - When the backend exits on its own, whatever it left behind is killed and the supervisor
//!   exits with the backend's exit code (128 + N for a backend killed by signal N).
//!
//! The backend gets back the open-file soft limit the gateway was started with (the gateway
//! raises its own; programs that use `select(2)` break with descriptors above 1024).
//!
//! Right after the start it writes [`PID_LINE`] and the backend's pid on stderr, which the
//! gateway reads so that `/status` shows the backend's own pid.
//!
//! This module owns the supervisor's side of that contract and [`command`], the gateway's
//! side; it does no I/O beyond signals, `/proc` and that one line.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::signal::unix::{Signal as Listener, SignalKind, signal};
use tokio::time::Instant;

/// What the supervisor writes on stderr before the backend's pid.
pub const PID_LINE: &str = "devassist supervise: backend pid ";

/// How long a backend may take to stop after the gateway died, before SIGKILL.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(3);

/// The gateway's "kill the backend now" signal.
pub const KILL_NOW: Signal = Signal::SIGUSR1;

/// The signal the kernel sends the supervisor when the gateway dies.
const PARENT_DIED: Signal = Signal::SIGUSR2;

/// How long killing everything may take before the supervisor gives up and exits.
const KILL_PATIENCE: Duration = Duration::from_secs(5);

/// The open-file soft limit backends are started with, when the gateway raised its own.
static BACKEND_NOFILE: OnceLock<u64> = OnceLock::new();

/// Backends started from now on get `soft` as their open-file soft limit.
pub fn restore_nofile_for_backends(soft: u64) {
    let _ = BACKEND_NOFILE.set(soft);
}

/// The command that runs `program` under the supervisor `supervisor` (this binary).
pub fn command(supervisor: &Path, program: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(supervisor);
    cmd.arg("supervise")
        .arg("--parent")
        .arg(std::process::id().to_string());
    if let Some(soft) = BACKEND_NOFILE.get() {
        cmd.arg("--nofile").arg(soft.to_string());
    }
    cmd.arg("--").arg(program);
    cmd
}

/// The backend's pid, when `line` is the supervisor's report of it.
pub fn reported_pid(line: &str) -> Option<u32> {
    line.strip_prefix(PID_LINE)?.trim().parse().ok()
}

/// Runs `command` (program and arguments) under supervision until it exits; `parent` is the
/// gateway's pid, `nofile` the open-file soft limit to run it with. Returns the exit code to
/// leave with.
pub fn run(parent: u32, nofile: Option<u64>, command: Vec<OsString>) -> ExitCode {
    if let Some(soft) = nofile {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, soft.min(hard), hard);
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format_args!("cannot start the runtime: {e}")),
    };
    runtime.block_on(supervise(parent, command))
}

fn say(msg: std::fmt::Arguments<'_>) {
    // The gateway may be gone and stderr a broken pipe: never panic over a message.
    let _ = writeln!(std::io::stderr(), "devassist supervise: {msg}");
}

fn fail(msg: std::fmt::Arguments<'_>) -> ExitCode {
    say(msg);
    ExitCode::from(127)
}

/// The signals the supervisor listens to, registered before the backend starts.
struct Signals {
    term: Listener,
    int: Listener,
    hup: Listener,
    kill_now: Listener,
    parent_died: Listener,
    child: Listener,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            kill_now: signal(SignalKind::from_raw(KILL_NOW as i32))?,
            parent_died: signal(SignalKind::from_raw(PARENT_DIED as i32))?,
            child: signal(SignalKind::child())?,
        })
    }
}

async fn supervise(parent: u32, command: Vec<OsString>) -> ExitCode {
    let Some((program, args)) = command.split_first() else {
        return fail(format_args!("no command to run"));
    };
    // Listen first: the parent-death signal's default action would end the supervisor
    // without cleaning up.
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => return fail(format_args!("cannot listen for signals: {e}")),
    };
    if let Err(e) = watch_parent(parent) {
        return fail(format_args!("{e}"));
    }
    let mut cmd = std::process::Command::new(program);
    cmd.args(args).process_group(0);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return fail(format_args!(
                "cannot run {}: {e}",
                Path::new(program).display()
            ));
        }
    };
    // Reaped below with waitpid, like every adopted orphan; the handle is not needed.
    let pid = Pid::from_raw(child.id() as i32);
    drop(child);
    say(format_args!("backend pid {pid}"));
    let mut tree = Tree {
        child: pid,
        status: None,
    };
    let mut stopping = false;
    let mut orphaned_at: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        let orphan_deadline = orphaned_at.map(|t| t + ORPHAN_GRACE);
        tokio::select! {
            _ = signals.term.recv() => { stopping = true; tree.terminate(); }
            _ = signals.int.recv() => { stopping = true; tree.terminate(); }
            _ = signals.hup.recv() => { stopping = true; tree.terminate(); }
            _ = signals.kill_now.recv() => {
                tree.kill_all().await;
                return tree.exit_code();
            }
            _ = signals.parent_died.recv() => {
                stopping = true;
                orphaned_at.get_or_insert_with(Instant::now);
                tree.terminate();
            }
            () = sleep_until(orphan_deadline), if orphan_deadline.is_some() => {
                tree.kill_all().await;
                return tree.exit_code();
            }
            _ = signals.child.recv() => {}
            _ = tick.tick() => {}
        }
        tree.reap();
        if tree.status.is_some() {
            if !stopping && let Some(Status::Signal(sig)) = tree.status {
                say(format_args!("the backend was killed by signal {sig}"));
            }
            // Whatever it started and left behind goes with it.
            tree.kill_all().await;
            return tree.exit_code();
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Asks for [`PARENT_DIED`] when the gateway dies, and adopts orphans below us.
#[cfg(target_os = "linux")]
fn watch_parent(parent: u32) -> Result<(), String> {
    use nix::sys::prctl;
    prctl::set_pdeathsig(PARENT_DIED).map_err(|e| format!("cannot set PR_SET_PDEATHSIG: {e}"))?;
    prctl::set_child_subreaper(true)
        .map_err(|e| format!("cannot set PR_SET_CHILD_SUBREAPER: {e}"))?;
    // The gateway may have died between starting us and the prctl: then no signal comes.
    if nix::unistd::getppid().as_raw() as u32 != parent {
        return Err(format!("the gateway (pid {parent}) is gone; not starting"));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn watch_parent(parent: u32) -> Result<(), String> {
    if nix::unistd::getppid().as_raw() as u32 != parent {
        return Err(format!("the gateway (pid {parent}) is gone; not starting"));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Status {
    Code(i32),
    Signal(Signal),
}

/// The backend (leader of its own process group) and everything below the supervisor.
struct Tree {
    child: Pid,
    status: Option<Status>,
}

impl Tree {
    /// SIGTERM to the backend's process group.
    fn terminate(&self) {
        let _ = killpg(self.child, Signal::SIGTERM);
    }

    /// Reaps every exited child (the backend and adopted orphans); records the backend's
    /// status. Returns whether any child is left.
    fn reap(&mut self) -> bool {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => return true,
                Ok(WaitStatus::Exited(pid, code)) if pid == self.child => {
                    self.status = Some(Status::Code(code));
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == self.child => {
                    self.status = Some(Status::Signal(sig));
                }
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return false,
            }
        }
    }

    /// SIGKILL to the backend's group and to every process below the supervisor, until none
    /// is left: killing a child re-parents its own children to us, so they are found on the
    /// next round.
    async fn kill_all(&mut self) {
        let me = nix::unistd::getpid();
        let give_up = Instant::now() + KILL_PATIENCE;
        loop {
            let _ = killpg(self.child, Signal::SIGKILL);
            for pid in children_of(me) {
                let _ = kill(pid, Signal::SIGKILL);
            }
            if !self.reap() {
                return;
            }
            if Instant::now() >= give_up {
                say(format_args!("some processes did not die; giving up"));
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn exit_code(&self) -> ExitCode {
        match self.status {
            Some(Status::Code(c)) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
            Some(Status::Signal(s)) => ExitCode::from(128u8.saturating_add(s as u8)),
            None => ExitCode::FAILURE,
        }
    }
}

/// The processes whose parent is `parent`, from `/proc`.
fn children_of(parent: Pid) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| parent_of(pid) == Some(parent.as_raw()))
        .map(Pid::from_raw)
        .collect()
}

/// A process's parent pid: the second field after the command name in `/proc/PID/stat`
/// (the name, in parentheses, may itself contain spaces and parentheses).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_line_round_trips() {
        assert_eq!(reported_pid(&format!("{PID_LINE}4242")), Some(4242));
        assert_eq!(reported_pid("backend pid 4242"), None);
        assert_eq!(reported_pid(&format!("{PID_LINE}x")), None);
    }

    #[test]
    fn parent_of_reads_proc() {
        let me = std::process::id() as i32;
        assert_eq!(
            parent_of(me),
            Some(nix::unistd::getppid().as_raw()),
            "own parent"
        );
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = children_of(Pid::from_raw(me));
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            found.contains(&Pid::from_raw(child.id() as i32)),
            "{found:?}"
        );
    }
}
