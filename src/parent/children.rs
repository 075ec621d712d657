//! The parent's table of children: who is running, and what their exits mean.

use std::hash::RandomState;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::unforked::Unforked;

/// What a child process does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Role {
    /// Serves one connection.
    Session {
        /// The peer.
        peer: SocketAddr,
    },
    /// The barrier and the draw.
    Coordinator,
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Exit {
    /// `exit(0)`.
    Normal,
    /// `exit(n)`, n ≠ 0: it failed, and said so.
    Failed(i32),
    /// Killed by a signal: it crashed or was killed.
    Killed(Signal),
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Normal => f.write_str("exit 0"),
            Exit::Failed(code) => write!(f, "exit {code}"),
            Exit::Killed(signal) => write!(f, "signal {signal}"),
        }
    }
}

/// A reaped child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reaped {
    /// Its pid.
    pub pid: Pid,
    /// What it was.
    pub role: Role,
    /// How it ended.
    pub exit: Exit,
    /// Whether the parent killed it to make room.
    pub evicted: bool,
}

struct Entry {
    role: Role,
    started: Instant,
    /// Where a session stands in the parent's admission count.
    standing: Standing,
}

impl Entry {
    /// Whether it counts against `MAX_SESSIONS`: a session not identified (the coordinator is not one).
    fn is_anonymous(&self) -> bool {
        self.standing == Standing::Anonymous && self.role != Role::Coordinator
    }
}

/// A session's standing: anonymous ones are bounded and the oldest give way to newcomers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// No `HELLO` granted yet (or an echo): counts against `MAX_SESSIONS`.
    Anonymous,
    /// Serves an agency that claimed itself: not counted (one per agency at most).
    Identified,
    /// Told to go to make room; not counted while it exits.
    Evicted,
}

/// Every live child, with a named slot for the coordinator.
#[derive(Default)]
pub(super) struct Children {
    /// Outside what `fork` copies: the one table of the parent that grows with the agencies.
    entries: hashbrown::HashMap<Pid, Entry, RandomState, Unforked>,
    coordinator: Option<Pid>,
    /// Sessions standing [`Standing::Anonymous`], kept as they change: the parent asks on every
    /// accept, and counting the entries then made a round of N agencies cost N² steps.
    anonymous: usize,
}

impl Children {
    /// Records a child after `fork` succeeded.
    pub(super) fn add(&mut self, pid: Pid, role: Role) {
        if role == Role::Coordinator {
            self.coordinator = Some(pid);
        } else {
            self.anonymous += 1;
        }
        self.entries.insert(
            pid,
            Entry {
                role,
                started: Instant::now(),
                standing: Standing::Anonymous,
            },
        );
    }

    /// Live session children.
    pub(super) fn sessions(&self) -> usize {
        self.entries.len() - usize::from(self.coordinator.is_some())
    }

    /// Live sessions whose peer has not identified itself as an agency.
    pub(super) fn anonymous_sessions(&self) -> usize {
        self.anonymous
    }

    /// Moves an anonymous session to `standing`, keeping the count.
    fn leave_anonymity(anonymous: &mut usize, entry: &mut Entry, standing: Standing) {
        if entry.is_anonymous() {
            *anonymous -= 1;
        }
        entry.standing = standing;
    }

    /// Records that session `pid` serves an identified agency (unknown pids are ignored: the
    /// session may already be reaped).
    pub(super) fn identify(&mut self, pid: Pid) {
        if let Some(entry) = self.entries.get_mut(&pid) {
            if entry.standing == Standing::Anonymous {
                Self::leave_anonymity(&mut self.anonymous, entry, Standing::Identified);
            }
        }
    }

    /// Marks the longest-lived anonymous session evicted and returns it, to be killed, if it has
    /// been anonymous for at least `min_age` (a younger one may just not have sent `HELLO` yet).
    pub(super) fn evict_oldest_anonymous(&mut self, min_age: Duration) -> Option<(Pid, Role)> {
        let (pid, entry) = self
            .entries
            .iter_mut()
            .filter(|(_, entry)| entry.is_anonymous())
            .min_by_key(|(_, entry)| entry.started)?;
        if entry.started.elapsed() < min_age {
            return None;
        }
        Self::leave_anonymity(&mut self.anonymous, entry, Standing::Evicted);
        Some((*pid, entry.role.clone()))
    }

    /// Live children of any role.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no child is alive.
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The coordinator's pid, while it lives.
    pub(super) fn coordinator(&self) -> Option<Pid> {
        self.coordinator
    }

    /// Collects every child that has exited, without blocking.
    pub(super) fn reap(&mut self) -> Vec<Reaped> {
        let mut reaped = Vec::new();
        loop {
            let exit = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, 0)) => (pid, Exit::Normal),
                Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Failed(code)),
                Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, Exit::Killed(signal)),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(_) => break,
            };
            let (pid, exit) = exit;
            // As PID 1 in a container we may also reap orphans we never forked; they have no entry.
            if let Some(entry) = self.entries.remove(&pid) {
                if entry.is_anonymous() {
                    self.anonymous -= 1;
                }
                if self.coordinator == Some(pid) {
                    self.coordinator = None;
                }
                // One line per agency at DEBUG was a fifth of the parent's log: a normal exit is
                // at TRACE (a failed or killed one is logged again by the loop, at WARN or ERROR).
                let level = if exit == Exit::Normal {
                    log::Level::Trace
                } else {
                    log::Level::Debug
                };
                log::log!(
                    level,
                    "action: reap_child | result: success | pid: {pid} | status: {} | lived_ms: {}",
                    exit,
                    entry.started.elapsed().as_millis()
                );
                reaped.push(Reaped {
                    pid,
                    role: entry.role,
                    exit,
                    evicted: entry.standing == Standing::Evicted,
                });
            }
        }
        reaped
    }

    /// Sends `signal` to every live child (sessions, and the coordinator when `coordinator_too`).
    pub(super) fn signal_all(&self, signal: Signal, coordinator_too: bool) {
        for pid in self.entries.keys() {
            if coordinator_too || self.coordinator != Some(*pid) {
                let _ = kill(*pid, signal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept count against the entries counted one by one.
    fn counted(children: &Children) -> usize {
        children
            .entries
            .values()
            .filter(|e| e.is_anonymous())
            .count()
    }

    #[test]
    fn the_anonymous_count_follows_every_change_of_standing() {
        let mut children = Children::default();
        children.add(Pid::from_raw(1), Role::Coordinator);
        for pid in 2..=6 {
            let peer = SocketAddr::from(([127, 0, 0, 1], 1000 + pid as u16));
            children.add(Pid::from_raw(pid), Role::Session { peer });
        }
        assert_eq!((children.anonymous_sessions(), counted(&children)), (5, 5));
        children.identify(Pid::from_raw(3));
        children.identify(Pid::from_raw(3));
        children.identify(Pid::from_raw(99));
        assert_eq!((children.anonymous_sessions(), counted(&children)), (4, 4));
        let Some((evicted, _)) = children.evict_oldest_anonymous(Duration::ZERO) else {
            panic!("no anonymous session evicted");
        };
        assert_ne!(
            evicted,
            Pid::from_raw(3),
            "an identified session was evicted"
        );
        // An evicted session identifying itself on its way out is not counted again.
        children.identify(evicted);
        assert_eq!((children.anonymous_sessions(), counted(&children)), (3, 3));
    }
}
