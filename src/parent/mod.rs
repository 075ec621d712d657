//! The parent: accept, fork, reap, and shut down — the only place that forks.
//!
//! Why fork per connection: each agency's session is plain sequential code in its own address
//! space, so a session that crashes or misbehaves takes nothing else with it, and the parent stays
//! out of harm's way. The parent does no protocol work and no storage work; it never blocks on a
//! child (it sends them nothing but signals) and it is single-threaded, which is what makes `fork`
//! sound: signal handlers only set flags and write a byte to a self-pipe, and the loop does the work.
//!
//! Before the first fork the parent creates what children share: the listening socket, the
//! coordinator's ipc-channel and the bets file's [`CommitState`] page. The coordinator is a child
//! in a named slot; if it dies abnormally the parent ends every session (their clients reconnect
//! and resume) and starts a new coordinator, which rebuilds its state from disk.
//!
//! Shutdown is a small state machine — `Running`, then `Draining` until every child is reaped —
//! each step logged as `action: shutdown`. Children that outlive the grace period get SIGKILL.
//!
//! What it may touch: the listening socket, the child table, signals, and the resources it
//! creates for its children before forking; never the bets file's contents, never a frame beyond
//! the refusals `listener` sends.
//!
//! Beside this file: `spawn` (the forks and each child's first steps), `children` (the child
//! table and reaping), `signals` (flags and the self-pipe), `identified` (sessions telling the
//! parent they serve an agency), `listener` (the socket and the refusals the parent sends),
//! `limits` (the descriptor limit, and the startup check of the others) and `unforked` (memory a
//! child does not inherit, for the child table). This file is the loop
//! those serve: accept, reap, shut down.

mod buffers;
mod children;
mod identified;
mod limits;
mod listener;
mod signals;
mod spawn;
mod unforked;

pub use buffers::ReceiveBuffers;
pub use limits::{raise_fd_limit, Capacity, FdLimit};
pub use listener::is_listening;

use children::{Children, Exit, Reaped, Role};
use identified::Identified;
use listener::{bind, refuse_busy};
use signals::Signals;

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};

use crate::config::{Secrets, ServerConfig};
use crate::coordinator::{Request, FATAL_EXIT};
use crate::storage::{self, CommitState};

/// Why the server could not start, or had to stop.
#[derive(Debug)]
pub enum ServerError {
    /// Setting something up failed before any child was forked.
    Setup(&'static str, String),
    /// The running server had to stop: `poll` failed, or the coordinator refused the bets file.
    Run(&'static str, String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Setup(what, err) | ServerError::Run(what, err) => {
                write!(f, "{what}: {err}")
            }
        }
    }
}

impl std::error::Error for ServerError {}

fn setup<E: fmt::Display>(what: &'static str) -> impl FnOnce(E) -> ServerError {
    move |err| ServerError::Setup(what, err.to_string())
}

/// The shutdown state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Accepting connections.
    Running,
    /// Listener closed, children told to stop; waiting for them until the deadline.
    Draining {
        /// When stragglers get SIGKILL.
        deadline: Instant,
        /// Whether SIGKILL was already sent.
        killed: bool,
    },
}

/// An anonymous session this young is never evicted: it may be an agency whose `HELLO` is on
/// its way, late on a loaded machine (3,000 agencies at once took 1 s and more to identify).
const EVICT_AFTER: Duration = Duration::from_secs(5);

/// Coordinator restarts closer together than this are delayed (a crash loop must not spin).
pub(super) const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// Everything the parent owns.
pub struct Supervisor {
    config: ServerConfig,
    listener: Option<TcpListener>,
    signals: Option<Signals>,
    commit: CommitState,
    requests_tx: IpcSender<Request>,
    requests_rx: Option<IpcReceiver<Request>>,
    secrets: Option<Secrets>,
    identified: Identified,
    children: Children,
    state: State,
    coordinator_started: Option<Instant>,
    /// Why the server must stop: the coordinator found state it must not serve.
    fatal: Option<String>,
    /// This process's pid, so a child can tell whether its parent is still the one that forked it.
    pid: u32,
    /// Held for the server's life (and inherited by every child): see [`storage::claim_ownership`].
    _owner: std::fs::File,
}

impl Supervisor {
    /// Binds the port and prepares what every child shares; forks nothing yet.
    ///
    /// # Errors
    /// The port cannot be bound, a secrets file cannot be read, or a shared resource cannot be
    /// created.
    pub fn new(config: ServerConfig) -> Result<Supervisor, ServerError> {
        let secrets = match &config.secrets_file {
            Some(path) => {
                let secrets = Secrets::load(path).map_err(setup("secrets"))?;
                let missing = secrets.missing(config.agencies);
                if !missing.is_empty() {
                    let list: Vec<String> = missing.iter().map(u32::to_string).collect();
                    return Err(ServerError::Setup(
                        "secrets",
                        format!(
                            "{} has no secret for agencies {}: they could never connect, so the draw could never happen",
                            path.display(),
                            list.join(",")
                        ),
                    ));
                }
                Some(secrets)
            }
            None => {
                log::warn!(
                    "no SECRETS_FILE: authentication is off, so any connection may act as any agency (store bets for it, send its END, read its winners)"
                );
                None
            }
        };
        let owner = storage::claim_ownership(&config.bets_file, config.shutdown_grace * 2)
            .map_err(setup("bets file"))?;
        let listener = bind(config.port, config.backlog())?;
        let signals = Signals::install().map_err(setup("signals"))?;
        let commit = CommitState::new().map_err(setup("shared memory"))?;
        let (requests_tx, requests_rx) = ipc::channel().map_err(setup("coordinator channel"))?;
        spawn::measure_ipc_fragments().map_err(setup("coordinator channel"))?;
        let identified = Identified::new().map_err(setup("identification pipe"))?;
        Ok(Supervisor {
            config,
            listener: Some(listener),
            signals: Some(signals),
            commit,
            requests_tx,
            requests_rx: Some(requests_rx),
            secrets,
            identified,
            children: Children::default(),
            state: State::Running,
            coordinator_started: None,
            fatal: None,
            pid: std::process::id(),
            _owner: owner,
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref()?.local_addr().ok()
    }

    /// Runs until SIGTERM/SIGINT and every child has been reaped.
    ///
    /// # Errors
    /// `poll` itself fails: the parent returns at once, and its children die with it (each has
    /// `PR_SET_PDEATHSIG`). Also the coordinator's refusal of the bets file, after every child is
    /// reaped.
    pub fn run(mut self) -> Result<(), ServerError> {
        if let Some(addr) = self.local_addr() {
            log::info!("action: listen | result: success | port: {}", addr.port());
        }
        self.start_coordinator();
        log::info!("action: accept_connections | result: in_progress");
        loop {
            let timed_out = self.wait_for_events()?;
            // A reap is a `waitpid` over every child: only when one may have exited (the poll
            // timeout is a backstop that costs one call a second).
            let exited = self
                .signals
                .as_ref()
                .is_some_and(Signals::take_child_exited);
            if exited || timed_out {
                self.reap_children();
            }
            let signal = self.signals.as_ref().and_then(Signals::stop_requested);
            if let (Some(signal), State::Running) = (signal, self.state) {
                self.begin_shutdown(&format!("signal: {signal}"));
            }
            match self.state {
                State::Running => {
                    if self.children.coordinator().is_none() {
                        self.restart_coordinator();
                    }
                    self.accept_all();
                }
                State::Draining { deadline, killed } => {
                    if self.children.is_empty() {
                        if let Some(why) = self.fatal.take() {
                            return Err(ServerError::Run("coordinator", why));
                        }
                        log::info!("action: shutdown | result: success | resource: server");
                        return Ok(());
                    }
                    if !killed && Instant::now() >= deadline {
                        log::warn!(
                            "action: shutdown | result: in_progress | resource: children | detail: {} still running, sending SIGKILL",
                            self.children.len()
                        );
                        self.children.signal_all(Signal::SIGKILL, true);
                        self.state = State::Draining {
                            deadline,
                            killed: true,
                        };
                    }
                }
            }
        }
    }

    /// Waits for a connection, a signal or a session's identification; `true` when nothing
    /// came within the timeout.
    fn wait_for_events(&mut self) -> Result<bool, ServerError> {
        let Some(signals) = &self.signals else {
            return Ok(true);
        };
        let timeout = match self.state {
            State::Running if self.children.coordinator().is_none() => 100u16,
            State::Running => 1000,
            State::Draining { .. } => 100,
        };
        let mut fds = vec![
            PollFd::new(signals.wake_fd(), PollFlags::POLLIN),
            PollFd::new(self.identified.read_fd(), PollFlags::POLLIN),
        ];
        if let (State::Running, Some(listener)) = (self.state, &self.listener) {
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        }
        let timed_out = match poll(&mut fds, PollTimeout::from(timeout)) {
            Ok(ready) => ready == 0,
            Err(Errno::EINTR) => false,
            Err(err) => return Err(ServerError::Run("poll", err.to_string())),
        };
        signals.drain();
        for pid in self.identified.drain() {
            self.children.identify(pid);
        }
        Ok(timed_out)
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            let (stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    // EMFILE and friends: log and try again on the next wake-up.
                    log::error!("action: accept_connections | result: fail | error: {err}");
                    return;
                }
            };
            log::info!(
                "action: accept_connections | result: success | ip: {}",
                peer.ip().to_canonical()
            );
            if self.children.anonymous_sessions() >= self.config.max_sessions() {
                self.evict_oldest_anonymous();
            }
            // Evicted sessions take a moment to go: a flood beyond this is refused outright.
            let ceiling = self.config.max_sessions() * 2 + self.config.agencies as usize;
            if self.children.sessions() >= ceiling {
                refuse_busy(stream, peer, ceiling);
                continue;
            }
            self.start_session(stream, peer);
        }
    }

    /// Makes room for a newcomer: anonymous peers (echo, garbage, slow bytes) may hold at most
    /// `MAX_SESSIONS` sessions, and the one connected longest gives way. It is killed outright:
    /// it holds no agency and has stored nothing. A burst of agencies connecting at once is not
    /// evicted: sessions younger than [`EVICT_AFTER`] have not had time to say who they are, and
    /// the ceiling on all sessions still bounds the burst.
    fn evict_oldest_anonymous(&mut self) {
        if let Some((pid, role)) = self.children.evict_oldest_anonymous(EVICT_AFTER) {
            // Logged before the kill, so that whoever sees the connection close finds the line.
            if let Role::Session { peer } = role {
                log::info!(
                    "action: evict_session | result: success | pid: {pid} | ip: {} | detail: oldest of {} unidentified connections, to make room",
                    peer.ip().to_canonical(),
                    self.config.max_sessions()
                );
            }
            if let Err(err) = kill(pid, Signal::SIGKILL) {
                // ESRCH: it ended on its own meanwhile; the reaper logs it either way.
                log::debug!("action: evict_session | result: fail | pid: {pid} | error: {err}");
            }
        }
    }

    fn reap_children(&mut self) {
        for Reaped {
            pid,
            role,
            exit,
            evicted,
        } in self.children.reap()
        {
            let draining = matches!(self.state, State::Draining { .. });
            match (&role, exit) {
                // Killed on purpose, and logged when it was.
                (Role::Session { .. }, _) if evicted => {}
                (Role::Session { peer }, Exit::Normal) if draining => log::info!(
                    "action: shutdown | result: success | resource: session | pid: {pid} | ip: {}",
                    peer.ip().to_canonical()
                ),
                (Role::Session { .. }, Exit::Normal) => {}
                (Role::Session { peer }, exit) => log::error!(
                    "action: session_exit | result: fail | pid: {pid} | ip: {} | exit: {exit}",
                    peer.ip().to_canonical()
                ),
                (Role::Coordinator, Exit::Normal) if draining => {
                    log::info!("action: shutdown | result: success | resource: coordinator | pid: {pid}")
                }
                (Role::Coordinator, Exit::Failed(FATAL_EXIT)) if self.fatal.is_none() => {
                    // Restarting would meet the same state again: stop, and say why.
                    self.fatal = Some(
                        "the bets file or END journal does not fit this configuration (see the coordinator's error above)".into(),
                    );
                    if !draining {
                        self.begin_shutdown("reason: coordinator_refused_bets_file");
                    }
                }
                (Role::Coordinator, exit) if draining => log::warn!(
                    "action: shutdown | result: fail | resource: coordinator | pid: {pid} | exit: {exit}"
                ),
                (Role::Coordinator, exit) => {
                    // Sessions waiting on the dead coordinator cannot get answers; end them so their
                    // clients reconnect to the new one, which rebuilds its state from disk.
                    log::error!(
                        "action: coordinator_exit | result: fail | pid: {pid} | exit: {exit} | detail: restarting, sessions ended"
                    );
                    self.children.signal_all(Signal::SIGTERM, false);
                }
            }
        }
    }

    /// Closes the listener and tells every child to stop; `cause` is the log line's last field
    /// (`signal: SIGTERM`, `signal: SIGINT`, or why the server stops on its own).
    fn begin_shutdown(&mut self, cause: &str) {
        log::info!("action: shutdown | result: in_progress | resource: server | {cause}");
        if let Some(listener) = self.listener.take() {
            drop(listener);
            log::info!("action: shutdown | result: success | resource: listener");
        }
        log::info!(
            "action: shutdown | result: in_progress | resource: children | sessions: {} | coordinator: {}",
            self.children.sessions(),
            self.children.coordinator().is_some()
        );
        self.children.signal_all(Signal::SIGTERM, true);
        self.state = State::Draining {
            deadline: Instant::now() + self.config.shutdown_grace,
            killed: false,
        };
    }
}
