//! Server-wide limits that keep the gateway reachable under overload: the open-file limit
//! raised at start-up, and the caps on connections and requests in progress sized from it.
//!
//! Each client connection takes one descriptor, and each request in progress may hold one
//! more to its upstream; a few hundred are kept for the listener, idle upstream
//! connections, backend processes' pipes, logs and docs indexes. The caps are enforced in
//! `listen.rs` (connections, body timeout) and `guard::in_flight` (requests).

use crate::config::ServerSettings;
use std::time::Duration;

/// Descriptors kept apart from client connections and their upstream connections.
pub const RESERVED_FDS: u64 = 256;

/// Bounds of the default `max_connections`.
const CONNECTIONS_DEFAULT_RANGE: (u64, u64) = (64, 16_384);

/// Default requests in progress per core.
const IN_FLIGHT_PER_CORE: usize = 1024;

/// The open-file limit (`RLIMIT_NOFILE`) before and after start-up raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nofile {
    /// The soft limit the gateway was started with.
    pub before: u64,
    /// The soft limit now.
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft open-file limit to the hard limit where allowed. On failure the limit is
/// left as it was, and that is what is returned with the error.
pub fn raise_nofile() -> (Nofile, Option<std::io::Error>) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(e) => {
            // Linux's usual default, to size the caps from.
            let unknown = Nofile {
                before: 1024,
                soft: 1024,
                hard: 1024,
            };
            return (unknown, Some(e.into()));
        }
    };
    let mut limit = Nofile {
        before: soft,
        soft,
        hard,
    };
    if soft >= hard {
        return (limit, None);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            limit.soft = hard;
            crate::pool::supervise::restore_nofile_for_backends(soft);
            (limit, None)
        }
        Err(e) => (limit, Some(e.into())),
    }
}

/// The server's limits, defaults resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    pub max_connections: usize,
    pub max_in_flight: usize,
    pub body_timeout: Duration,
}

impl ServerLimits {
    /// The configured limits, with defaults sized from the soft open-file limit `nofile`
    /// and the number of `cores`.
    pub fn resolve(server: &ServerSettings, nofile: u64, cores: usize) -> Self {
        let max_connections = server
            .max_connections
            .unwrap_or_else(|| default_connections(nofile));
        let max_in_flight = server.max_in_flight.unwrap_or_else(|| {
            (IN_FLIGHT_PER_CORE.saturating_mul(cores.max(1))).min((max_connections / 2).max(1))
        });
        Self {
            max_connections,
            max_in_flight,
            body_timeout: server.body_timeout,
        }
    }

    /// Descriptors these limits may need at worst (each connection with a request to an
    /// upstream in progress).
    pub fn descriptors_needed(&self) -> u64 {
        (self.max_connections as u64 + self.max_in_flight as u64).saturating_add(RESERVED_FDS)
    }
}

fn default_connections(nofile: u64) -> usize {
    let (least, most) = CONNECTIONS_DEFAULT_RANGE;
    let n = (nofile.saturating_sub(RESERVED_FDS) / 2).clamp(least, most);
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(connections: Option<usize>, in_flight: Option<usize>) -> ServerSettings {
        ServerSettings {
            listen: ([127, 0, 0, 1], 0).into(),
            max_body_bytes: 1,
            shutdown_grace: Duration::ZERO,
            models_dir: None,
            data_dir: None,
            worker_threads: None,
            max_connections: connections,
            max_in_flight: in_flight,
            body_timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn defaults_follow_the_descriptor_limit_and_the_cores() {
        // A box where the limit could not be raised from 1024.
        let small = ServerLimits::resolve(&server(None, None), 1024, 2);
        assert_eq!((small.max_connections, small.max_in_flight), (384, 192));
        assert!(small.descriptors_needed() <= 1024);
        // Two cores, limit raised to systemd's usual hard limit.
        let two = ServerLimits::resolve(&server(None, None), 524_288, 2);
        assert_eq!((two.max_connections, two.max_in_flight), (16_384, 2048));
        // A big box.
        let big = ServerLimits::resolve(&server(None, None), 1_048_576, 64);
        assert_eq!((big.max_connections, big.max_in_flight), (16_384, 8192));
        // Almost no descriptors: still a working minimum.
        let tiny = ServerLimits::resolve(&server(None, None), 100, 1);
        assert_eq!((tiny.max_connections, tiny.max_in_flight), (64, 32));
    }

    #[test]
    fn configured_values_win() {
        let l = ServerLimits::resolve(&server(Some(100), Some(10)), 1024, 2);
        assert_eq!((l.max_connections, l.max_in_flight), (100, 10));
        // The in-flight default follows a configured connection cap.
        let l = ServerLimits::resolve(&server(Some(100), None), 1_048_576, 8);
        assert_eq!(l.max_in_flight, 50);
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let (limit, err) = raise_nofile();
        assert!(err.is_none(), "{err:?}");
        assert_eq!(limit.soft, limit.hard);
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!((soft, hard), (limit.soft, limit.hard));
    }
}
