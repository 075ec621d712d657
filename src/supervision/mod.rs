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
//! Beside this file: `children` (the child table and reaping), `signals` (flags and the self-pipe),
//! `identified` (sessions telling the parent they serve an agency), `listener` (the socket and the
//! refusals the parent sends), and `coordinator` (the coordinator process's body). This file is
//! the one loop those serve (accept, fork, reap, shut down), which is why it stays whole.

mod children;
mod coordinator;
mod identified;
mod limits;
mod listener;
mod signals;

pub use children::{Children, Exit, Reaped, Role, Standing};
pub use identified::Identified;
pub use limits::{raise_fd_limit, FdLimit};
pub use listener::is_listening;

use self::coordinator::{run_coordinator, FATAL_EXIT};
use listener::{bind, refuse, refuse_busy};
pub use signals::Signals;

use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::coordinator::Request;
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{fork, ForkResult};

use crate::config::{Secrets, ServerConfig};
use crate::protocol::ErrorCode;
use crate::session::{self, SessionContext};
use crate::storage::{self, CommitState};

/// Why the server could not start or keep running.
#[derive(Debug)]
pub enum ServerError {
    /// Setting something up failed.
    Setup(&'static str, String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Setup(what, err) => write!(f, "{what}: {err}"),
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
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

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
            self.wait_for_events()?;
            self.reap_children();
            let stop = self.signals.as_ref().is_some_and(Signals::stop_requested);
            if stop && self.state == State::Running {
                self.begin_shutdown();
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
                            return Err(ServerError::Setup("coordinator", why));
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

    fn wait_for_events(&mut self) -> Result<(), ServerError> {
        let Some(signals) = &self.signals else {
            return Ok(());
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
        match poll(&mut fds, PollTimeout::from(timeout)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(err) => return Err(ServerError::Setup("poll", err.to_string())),
        }
        signals.drain();
        for pid in self.identified.drain() {
            self.children.identify(pid);
        }
        Ok(())
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
            if self.children.anonymous_sessions() >= self.config.max_sessions {
                self.evict_oldest_anonymous();
            }
            // Evicted sessions take a moment to go: a flood beyond this is refused outright.
            let ceiling = self.config.max_sessions * 2 + self.config.agencies as usize;
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
                    self.config.max_sessions
                );
            }
            if let Err(err) = kill(pid, Signal::SIGKILL) {
                // ESRCH: it ended on its own meanwhile; the reaper logs it either way.
                log::debug!("action: evict_session | result: fail | pid: {pid} | error: {err}");
            }
        }
    }

    fn start_session(&mut self, stream: TcpStream, peer: SocketAddr) {
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
        std::process::exit(code)
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
        self.children = Children::default();
        let signals = self.signals.take()?;
        match signals.forget_in_child() {
            Ok(stop) => Some(stop),
            Err(err) => {
                log::error!("action: start_child | result: fail | error: signals: {err}");
                None
            }
        }
    }

    fn start_coordinator(&mut self) {
        self.coordinator_started = Some(Instant::now());
        // SAFETY: as in `start_session`: single-threaded parent, and the child arm exits.
        match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let requests = self.requests_rx.take();
                let stop = self.become_child();
                let code = match (requests, stop) {
                    (Some(requests), Some(stop)) => {
                        run_coordinator(&self.config, &self.commit, &requests, &stop)
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

    fn restart_coordinator(&mut self) {
        if self
            .coordinator_started
            .is_some_and(|at| at.elapsed() < RESTART_BACKOFF)
        {
            return;
        }
        self.start_coordinator();
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
                        self.begin_shutdown();
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

    fn begin_shutdown(&mut self) {
        log::info!("action: shutdown | result: in_progress | resource: server | signal: SIGTERM");
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
