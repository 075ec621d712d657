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
//! Shutdown is a small state machine — `Running` → `Draining` → `Done` — each step logged as
//! `action: shutdown`. Children that outlive the grace period get SIGKILL.

mod children;
mod signals;

pub use children::{Children, Exit, Reaped, Role};
pub use signals::Signals;

use std::fmt;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coordinator::{Coordinator, Liveness, Request, SessionId};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn6};
use nix::unistd::{fork, ForkResult, Pid};

use crate::config::{Secrets, ServerConfig};
use crate::protocol::{self, ErrorCode, Message};
use crate::session::{self, SessionContext};
use crate::storage::{self, BetsLedger, CommitState};

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

/// Coordinator restarts closer together than this are delayed (a crash loop must not spin).
const RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// A session is alive while its process exists.
struct ProcessLiveness;

impl Liveness for ProcessLiveness {
    fn is_alive(&self, session: SessionId) -> bool {
        let Ok(pid) = i32::try_from(session) else {
            return false;
        };
        // Signal 0 checks existence only. A zombie still "exists", but the parent reaps promptly.
        kill(Pid::from_raw(pid), None).is_ok()
    }
}

/// Everything the parent owns.
pub struct Supervisor {
    config: ServerConfig,
    listener: Option<TcpListener>,
    signals: Option<Signals>,
    commit: CommitState,
    requests_tx: IpcSender<Request>,
    requests_rx: Option<IpcReceiver<Request>>,
    secrets: Option<Secrets>,
    children: Children,
    state: State,
    coordinator_started: Option<Instant>,
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
            Some(path) => Some(Secrets::load(path).map_err(setup("secrets"))?),
            None => None,
        };
        let owner = storage::claim_ownership(&config.bets_file, config.shutdown_grace * 2)
            .map_err(setup("bets file"))?;
        let listener = bind(config.port, config.listen_backlog)?;
        let signals = Signals::install().map_err(setup("signals"))?;
        let commit = CommitState::new().map_err(setup("shared memory"))?;
        let (requests_tx, requests_rx) = ipc::channel().map_err(setup("coordinator channel"))?;
        Ok(Supervisor {
            config,
            listener: Some(listener),
            signals: Some(signals),
            commit,
            requests_tx,
            requests_rx: Some(requests_rx),
            secrets,
            children: Children::default(),
            state: State::Running,
            coordinator_started: None,
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
    /// A failure of the loop itself (`poll`), after which children are still signalled and reaped.
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
                        crate::logging::log_peak_memory("server");
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
        let mut fds = vec![PollFd::new(signals.wake_fd(), PollFlags::POLLIN)];
        if let (State::Running, Some(listener)) = (self.state, &self.listener) {
            fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(timeout)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(err) => return Err(ServerError::Setup("poll", err.to_string())),
        }
        signals.drain();
        let _ = signals.take_child_exited();
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
            if self.children.sessions() >= self.config.max_sessions {
                refuse_busy(stream, peer, self.config.max_sessions);
                continue;
            }
            self.start_session(stream, peer);
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
                let ctx = SessionContext {
                    config: &self.config,
                    commit: &self.commit,
                    coordinator: self.requests_tx.clone(),
                    stop,
                    secrets: self.secrets.as_ref(),
                };
                session::run(stream, peer, &ctx).exit_code()
            }
            None => 1,
        };
        crate::logging::log_peak_memory("session");
        std::process::exit(code)
    }

    /// In a freshly forked child: die with the parent, drop what only the parent may hold, take
    /// over SIGTERM.
    fn become_child(&mut self) -> Option<Arc<AtomicBool>> {
        // An orphan would go on writing with a commit page no new server shares: a dead parent
        // takes its children with it, like a postmaster's backends.
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes plain integers and touches no memory of ours.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
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
                crate::logging::log_peak_memory("coordinator");
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
        for Reaped { pid, role, exit } in self.children.reap() {
            let draining = matches!(self.state, State::Draining { .. });
            match (&role, exit) {
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

/// The coordinator process's body; returns its exit code.
fn run_coordinator(
    config: &ServerConfig,
    commit: &CommitState,
    requests: &IpcReceiver<Request>,
    stop: &AtomicBool,
) -> i32 {
    let ledger = match BetsLedger::open(&config.bets_file, commit) {
        Ok(ledger) => ledger,
        Err(err) => {
            log::error!("action: start_coordinator | result: fail | error: {err}");
            return 1;
        }
    };
    let mut coordinator = Coordinator::new(ledger, ProcessLiveness, config.agencies);
    log::info!(
        "action: start_coordinator | result: success | agencies: {} | drawn: {}",
        config.agencies,
        coordinator.has_drawn()
    );
    match coordinator::run(&mut coordinator, requests, stop, Duration::from_millis(200)) {
        Ok(()) => {
            log::info!("action: shutdown | result: in_progress | resource: coordinator | closed: channel bets_file ends_file");
            0
        }
        Err(err) => {
            log::error!("action: coordinator | result: fail | error: {err}");
            1
        }
    }
}

/// Binds `[::]:port` (dual-stack, so IPv4 clients too) or, without IPv6, `0.0.0.0:port`, with
/// SO_REUSEADDR and the configured backlog, non-blocking for the accept loop.
fn bind(port: u16, backlog: i32) -> Result<TcpListener, ServerError> {
    let v6 = SockaddrIn6::from(std::net::SocketAddrV6::new(
        std::net::Ipv6Addr::UNSPECIFIED,
        port,
        0,
        0,
    ));
    let v4 = socket::SockaddrIn::from(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::UNSPECIFIED,
        port,
    ));
    let fd = bind_to(AddressFamily::Inet6, &v6, backlog)
        .or_else(|_| bind_to(AddressFamily::Inet, &v4, backlog))
        .map_err(setup("bind"))?;
    let listener = TcpListener::from(fd);
    listener.set_nonblocking(true).map_err(setup("bind"))?;
    Ok(listener)
}

fn bind_to(
    family: AddressFamily,
    addr: &dyn socket::SockaddrLike,
    backlog: i32,
) -> nix::Result<OwnedFd> {
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if family == AddressFamily::Inet6 {
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &false)?;
    }
    socket::bind(fd.as_raw_fd(), addr)?;
    socket::listen(&fd, Backlog::new(backlog).unwrap_or(Backlog::MAXCONN))?;
    Ok(fd)
}

fn refuse_busy(stream: TcpStream, peer: SocketAddr, limit: usize) {
    log::warn!(
        "action: start_session | result: fail | ip: {} | error: {limit} sessions already running",
        peer.ip().to_canonical()
    );
    refuse(
        stream,
        ErrorCode::ServerBusy,
        "too many connections, retry later",
    );
}

/// Best-effort error frame from the parent; it must never block, so the socket is non-blocking.
fn refuse(mut stream: TcpStream, code: ErrorCode, text: &str) {
    let mut out = Vec::new();
    if protocol::encode(&Message::Error { code, text }, &mut out).is_ok() {
        let _ = stream.set_nonblocking(true);
        let _ = stream.write(&out);
    }
}

/// Whether a socket in this network namespace listens on `port` (from `/proc/net/tcp{,6}`).
///
/// The container healthcheck uses this instead of connecting, so probing every second forks no
/// session and writes nothing to the log.
pub fn is_listening(port: u16) -> bool {
    const LISTEN: &str = "0A";
    ["/proc/net/tcp6", "/proc/net/tcp"].iter().any(|table| {
        let Ok(text) = std::fs::read_to_string(table) else {
            return false;
        };
        text.lines().skip(1).any(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1).unwrap_or("");
            let state = fields.nth(1).unwrap_or("");
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            state == LISTEN && local_port == Some(port)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::is_listening;

    #[test]
    fn a_bound_listener_is_seen_and_a_closed_port_is_not() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(is_listening(port));
        drop(listener);
        assert!(!is_listening(port));
    }
}
