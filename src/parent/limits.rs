//! The limits a round of many agencies runs into: open files (each waiting session's reply
//! channel is a descriptor in the coordinator, so thousands need more than the usual soft limit of
//! 1,024), processes (one per agency) and the accept queue. The server raises what it may and says
//! at startup, in one line, what falls short, rather than failing in the middle of a round.

use std::fmt;
use std::path::Path;

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};

/// The soft `RLIMIT_NOFILE` before and after [`raise_fd_limit`], and the hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit the server was started with.
    pub was: u64,
    /// The soft limit now (children inherit it).
    pub now: u64,
    /// The hard limit (the most an unprivileged process may raise its soft limit to).
    pub hard: u64,
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit, which every child inherits; the
/// hard limit itself is the administrator's and stays.
///
/// # Errors
/// `getrlimit` or `setrlimit` failed (the limit is then what it was).
pub fn raise_fd_limit() -> Result<FdLimit, nix::Error> {
    let (was, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if was < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(FdLimit {
        was,
        now: was.max(hard),
        hard,
    })
}

/// Descriptors the coordinator holds besides one reply channel per waiting agency: its request
/// channel, the bets file and its journal, the lock files, stdio, with room to spare.
const COORDINATOR_OWN_FILES: u64 = 32;

/// What a round of `agencies` needs from the system, beside what the system grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    /// Agencies of the round (`AGENCIES`).
    pub agencies: u32,
    /// Soft `RLIMIT_NPROC` (`None`: unlimited). It counts every process of the server's user.
    pub nproc: Option<u64>,
    /// `kernel.pid_max` and `kernel.threads-max`, the lower of the two (`None`: unreadable);
    /// shared by the whole system.
    pub pid_max: Option<u64>,
    /// Soft `RLIMIT_NOFILE` (`None`: unlimited), after [`raise_fd_limit`].
    pub nofile: Option<u64>,
    /// The backlog asked of `listen(2)`.
    pub backlog: u64,
    /// `net.core.somaxconn`, which caps it (`None`: unreadable).
    pub somaxconn: Option<u64>,
}

impl Capacity {
    /// Reads the limits that apply to a round of `agencies` with a listen `backlog`.
    pub fn measure(agencies: u32, backlog: i32) -> Capacity {
        let soft = |resource| match getrlimit(resource) {
            Ok((soft, _)) if soft != RLIM_INFINITY => Some(soft),
            _ => None,
        };
        let pid_max = [
            read_number("/proc/sys/kernel/pid_max"),
            read_number("/proc/sys/kernel/threads-max"),
        ]
        .into_iter()
        .flatten()
        .min();
        Capacity {
            agencies,
            nproc: soft(Resource::RLIMIT_NPROC),
            pid_max,
            nofile: soft(Resource::RLIMIT_NOFILE),
            backlog: u64::try_from(backlog).unwrap_or(0),
            somaxconn: read_number("/proc/sys/net/core/somaxconn"),
        }
    }

    /// Processes of one round: the parent, the coordinator and a session per agency.
    pub fn processes_needed(&self) -> u64 {
        u64::from(self.agencies) + 2
    }

    /// Descriptors the coordinator needs with every agency waiting for the draw.
    pub fn open_files_needed(&self) -> u64 {
        u64::from(self.agencies) + COORDINATOR_OWN_FILES
    }

    /// The limits that fall short, by the name the log line gives them.
    pub fn short(&self) -> Vec<&'static str> {
        let below = |limit: Option<u64>, needed: u64| limit.is_some_and(|limit| limit < needed);
        let mut short = Vec::new();
        if below(self.nproc, self.processes_needed()) {
            short.push("nproc");
        }
        if below(self.pid_max, self.processes_needed()) {
            short.push("pid_max");
        }
        if below(self.nofile, self.open_files_needed()) {
            short.push("nofile");
        }
        if below(self.somaxconn, self.backlog) {
            short.push("somaxconn");
        }
        short
    }
}

/// The `key: value` fields of the startup line (after `result:`), with what falls short named
/// last in `short:`.
impl fmt::Display for Capacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show =
            |limit: Option<u64>| limit.map_or_else(|| "unlimited".to_string(), |l| l.to_string());
        let read =
            |value: Option<u64>| value.map_or_else(|| "unknown".to_string(), |v| v.to_string());
        write!(
            f,
            "agencies: {} | processes_needed: {} | nproc: {} | pid_max: {} | open_files_needed: {} | nofile: {} | listen_backlog: {} | somaxconn: {}",
            self.agencies,
            self.processes_needed(),
            show(self.nproc),
            read(self.pid_max),
            self.open_files_needed(),
            show(self.nofile),
            self.backlog,
            read(self.somaxconn)
        )?;
        let short = self.short();
        if !short.is_empty() {
            write!(f, " | short: {}", short.join(","))?;
        }
        Ok(())
    }
}

fn read_number(path: impl AsRef<Path>) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacity() -> Capacity {
        Capacity {
            agencies: 10_000,
            nproc: None,
            pid_max: Some(32_768),
            nofile: Some(20_000),
            backlog: 10_128,
            somaxconn: Some(16_384),
        }
    }

    #[test]
    fn ten_thousand_agencies_fit_generous_limits() {
        assert!(capacity().short().is_empty());
        let line = capacity().to_string();
        assert!(
            line.contains("processes_needed: 10002 | nproc: unlimited"),
            "{line}"
        );
        assert!(!line.contains("short"), "{line}");
    }

    #[test]
    fn each_shortfall_is_named() {
        let tight = Capacity {
            nproc: Some(4_096),
            pid_max: Some(8_192),
            nofile: Some(1_024),
            somaxconn: Some(4_096),
            ..capacity()
        };
        assert_eq!(tight.short(), ["nproc", "pid_max", "nofile", "somaxconn"]);
        assert!(tight
            .to_string()
            .ends_with(" | short: nproc,pid_max,nofile,somaxconn"));
    }

    #[test]
    fn the_soft_limit_reaches_the_hard_one() {
        if let Ok(limit) = raise_fd_limit() {
            assert_eq!(limit.now, limit.hard);
            assert!(
                matches!(getrlimit(Resource::RLIMIT_NOFILE), Ok((soft, _)) if soft == limit.hard)
            );
        }
    }
}
