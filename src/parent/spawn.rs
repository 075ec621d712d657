//! Forking: a session per accepted connection, and the coordinator. The only code that forks,
//! and the arms each child runs right after `fork` until it exits: a child arm never returns into
//! the parent's loop.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use nix::sys::signal::Signal;
use nix::unistd::{fork, ForkResult};

use super::children::Role;
use super::listener::refuse;
use super::{Supervisor, RESTART_BACKOFF};
use crate::coordinator;
use crate::protocol::ErrorCode;
use crate::session::{self, SessionContext};

/// Makes ipc-channel measure its largest message fragment here, once, before any fork. It does
/// so lazily on a process's first send or receive, with a socket pair made, queried and closed
/// for the purpose: four system calls in every forked session, which inherits the answer instead.
///
/// # Errors
/// The channel could not be made or used.
pub(super) fn measure_ipc_fragments() -> std::io::Result<()> {
    let (tx, rx) = ipc_channel::ipc::channel::<()>()?;
    tx.send(())
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    rx.recv()
        .map_err(|err| std::io::Error::other(format!("{err:?}")))
}

impl Supervisor {
    pub(super) fn start_session(&mut self, stream: TcpStream, peer: SocketAddr) {
        if let Err(err) = stream.set_nonblocking(false) {
            log::error!(
                "action: start_session | result: fail | ip: {} | error: {err}",
                peer.ip().to_canonical()
            );
            return;
        }
        // SAFETY: the parent is single-threaded (no thread exists that could hold a lock across
        // the fork), and the child arm never returns into this loop: `session_child` exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => self.session_child(stream, peer),
            Ok(ForkResult::Parent { child }) => {
                self.children.add(child, Role::Session { peer });
                // `stream` drops here: the parent's copy of the socket closes, the child's stays.
            }
            Err(err) => {
                log::error!(
                    "action: start_session | result: fail | ip: {} | error: fork: {err}",
                    peer.ip().to_canonical()
                );
                refuse(
                    stream,
                    ErrorCode::ServerBusy,
                    "the server cannot start a session now",
                );
            }
        }
    }

    /// The child arm of a session fork.
    fn session_child(&mut self, stream: TcpStream, peer: SocketAddr) -> ! {
        let stop = self.become_child();
        let code = match &stop {
            Some(stop) => {
                let identified = &self.identified;
                let ctx = SessionContext {
                    config: &self.config,
                    commit: &self.commit,
                    coordinator: self.requests_tx.clone(),
                    stop,
                    secrets: self.secrets.as_ref(),
                    identified: &|| identified.notify(),
                };
                session::run(stream, peer, &ctx).exit_code()
            }
            None => 1,
        };
        // Everything the session wrote has gone out by now: log lines are written whole, straight
        // to fd 1, and the bets file and sockets have no user-space buffer. `std::process::exit`
        // would also run the C and Rust exit handlers, which in a forked child only fault in
        // pages of the parent's to tear them down again (a twentieth of a session's page faults).
        // SAFETY: `_exit` ends the process at once; it touches no memory of ours.
        unsafe { nix::libc::_exit(code) }
    }

    /// In a freshly forked child: die with the parent, drop what only the parent may hold, take
    /// over SIGTERM.
    fn become_child(&mut self) -> Option<Arc<AtomicBool>> {
        // An orphan would go on writing with a commit page no new server shares: a dead parent
        // takes its children with it, like a postmaster's backends.
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        if std::os::unix::process::parent_id() != self.pid {
            // The parent died before the prctl took effect.
            std::process::exit(1);
        }
        self.listener = None;
        // Sessions must not hold the coordinator's receiving end (the coordinator took it first).
        self.requests_rx = None;
        // The parent's table of children is not in this process (`unforked`): forgotten, never
        // dropped, since freeing it would touch memory the child does not have.
        std::mem::forget(std::mem::take(&mut self.children));
        let signals = self.signals.take()?;
        match signals.forget_in_child() {
            Ok(stop) => Some(stop),
            Err(err) => {
                log::error!("action: start_child | result: fail | error: signals: {err}");
                None
            }
        }
    }

    pub(super) fn start_coordinator(&mut self) {
        self.coordinator_started = Some(Instant::now());
        // SAFETY: as in `start_session`: single-threaded parent, and the child arm exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let requests = self.requests_rx.take();
                let stop = self.become_child();
                let code = match (requests, stop) {
                    (Some(requests), Some(stop)) => {
                        coordinator::run(&self.config, &self.commit, &requests, &stop)
                    }
                    _ => 1,
                };
                std::process::exit(code)
            }
            Ok(ForkResult::Parent { child }) => {
                log::info!("action: start_coordinator | result: success | pid: {child}");
                self.children.add(child, Role::Coordinator);
            }
            Err(err) => {
                log::error!("action: start_coordinator | result: fail | error: fork: {err}")
            }
        }
    }

    pub(super) fn restart_coordinator(&mut self) {
        if self
            .coordinator_started
            .is_some_and(|at| at.elapsed() < RESTART_BACKOFF)
        {
            return;
        }
        self.start_coordinator();
    }
}
