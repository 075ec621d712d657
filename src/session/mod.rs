//! One connection, served by one forked child from its first byte to its close.
//!
//! The first byte decides the dialect: anything but `0xFF` is a text line to echo (exercise 3);
//! `0xFF` starts the binary protocol. A binary session is `HELLO`, then bets, `END` and the winners
//! query. Bets that arrive together are stored together: every whole frame already received is
//! validated and encoded, then written in one append and covered by one sync before each batch is
//! acknowledged in order. A refused frame is answered with an `ERROR` after the batches before it
//! are stored and acknowledged, and the connection closes; nothing of the refused batch is stored.
//!
//! One file per job: this one reads, times out and ends the session; `echo` serves exercise 3,
//! `frames` decodes and dispatches the binary protocol, `store` writes and acknowledges batches,
//! `agency` handles `HELLO`, `END` and the winners query, `ask` calls the coordinator.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::coordinator::Request;
use ipc_channel::ipc::IpcSender;

use crate::config::{Secrets, ServerConfig};
use crate::connection::{self, Connection, Fill};
use crate::logging::field;
use crate::protocol::{ErrorCode, ServerMessage, MAGIC};
use crate::storage::{BetsFile, CommitState, PendingRows, StorageError};

mod agency;
mod ask;
mod echo;
mod frames;
mod store;

use store::{AgencyStream, PendingBatch};

/// How often a blocked read or wait looks at the stop flag (the socket's own timeouts, set on
/// the listener).
const SOCKET_TICK: Duration = connection::SESSION_TICK;
/// Bytes of rows gathered before they are written even if more frames are waiting.
const GROUP_BYTES: usize = 512 * 1024;
/// Room at first for about the rows of one full read buffer; a larger group grows the buffer.
/// Reserving [`GROUP_BYTES`] up front made every session map and unmap half a MiB (above
/// malloc's mmap threshold), with the unmap's TLB flush, for an upload that rarely fills it; this
/// much comes from the heap, and pages never written cost nothing.
const FIRST_ROWS_BYTES: usize = connection::READ_BUFFER;
/// How long a claim or END may wait for the coordinator.
const COORDINATOR_TIMEOUT: Duration = Duration::from_secs(60);

/// What a session needs from the process that forked it.
pub(crate) struct SessionContext<'a> {
    /// Server settings.
    pub config: &'a ServerConfig,
    /// The bets file's shared commit marks.
    pub commit: &'a CommitState,
    /// The coordinator's request channel.
    pub coordinator: IpcSender<Request>,
    /// Set by SIGTERM.
    pub stop: &'a AtomicBool,
    /// Per-agency secrets, when authentication is on.
    pub secrets: Option<&'a Secrets>,
    /// Tells the parent this session now serves an identified agency (it no longer counts
    /// against the bound on anonymous sessions).
    pub identified: &'a dyn Fn(),
}

/// How a session ended, which becomes the child's exit code.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    /// The peer was served or refused cleanly (exit 0).
    Done,
    /// The server failed the peer: storage or coordinator trouble (exit 1).
    Failed,
}

impl SessionEnd {
    /// The child's exit code.
    pub(crate) fn exit_code(&self) -> i32 {
        match self {
            SessionEnd::Done => 0,
            SessionEnd::Failed => 1,
        }
    }
}

/// Why a binary session stops early.
enum Stop {
    /// Answer with this error, then close (the peer's fault or a refusal).
    Refuse(ErrorCode, String),
    /// Answer with this error, then close, and count as a server failure.
    Fail(ErrorCode, String),
    /// The peer went away or the socket broke; nothing to answer.
    Gone(String),
    /// SIGTERM.
    Shutdown,
}

impl From<StorageError> for Stop {
    fn from(err: StorageError) -> Stop {
        Stop::Fail(ErrorCode::Unavailable, format!("storage: {err}"))
    }
}

impl From<io::Error> for Stop {
    fn from(err: io::Error) -> Stop {
        Stop::Gone(err.to_string())
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Refuse(code, text) | Stop::Fail(code, text) => write!(f, "{code}: {text}"),
            Stop::Gone(why) => write!(f, "connection lost: {why}"),
            Stop::Shutdown => f.write_str("shutting down"),
        }
    }
}

/// Serves `stream` until it closes; never panics on anything the peer sends.
pub(crate) fn run(stream: TcpStream, peer: SocketAddr, ctx: &SessionContext<'_>) -> SessionEnd {
    let ip = peer.ip().to_canonical().to_string();
    // No Nagle delay; both directions wake every tick, so idleness and SIGTERM are noticed while
    // blocked; a peer that vanished without a FIN (its network cut) is noticed by the kernel, so
    // its claim lapses. All of it the socket inherited from the listener
    // (`connection::set_session_options`).
    let mut conn = Connection::new(stream);
    conn.set_write_limit(ctx.config.idle_timeout);
    let mut session = Session {
        conn,
        ctx,
        ip,
        progress: AgencyStream::default(),
        last_input: Instant::now(),
        frame_started: None,
        rows: PendingRows::with_capacity(FIRST_ROWS_BYTES),
        pending: Vec::new(),
        file: None,
        replies: ask::Replies::default(),
    };
    let end = session.serve();
    session.release_claim();
    let _ = session.conn.stream().shutdown(std::net::Shutdown::Both);
    log::debug!(
        "action: shutdown | result: success | resource: session | ip: {} | agency: {} | closed: socket bets_file",
        session.ip,
        session.progress.agency
    );
    end
}

struct Session<'c, 'a> {
    conn: Connection,
    ctx: &'c SessionContext<'a>,
    ip: String,
    progress: AgencyStream,
    last_input: Instant,
    /// When the frame (or echo line) being received began: it must be whole within
    /// `FRAME_TIMEOUT`, however its bytes trickle in.
    frame_started: Option<Instant>,
    /// Rows of the batches received since the last write, stored together.
    rows: PendingRows,
    pending: Vec<PendingBatch>,
    file: Option<BetsFile<'a>>,
    /// The reply channel the coordinator answers on (see `ask`).
    replies: ask::Replies,
}

impl Session<'_, '_> {
    /// Gives up the agency's claim, if this session holds it. Best effort: a dead session's claim
    /// also lapses when its pid is gone.
    fn release_claim(&mut self) {
        if self.progress.claimed {
            let _ = self.ctx.coordinator.send(Request::Release {
                agency: self.progress.agency,
                session: std::process::id(),
            });
            self.progress.claimed = false;
        }
    }

    fn serve(&mut self) -> SessionEnd {
        match self.wait_for_input() {
            Ok(true) => {}
            Ok(false) => {
                log::debug!(
                    "action: session | result: success | ip: {} | detail: closed without data",
                    self.ip
                );
                return SessionEnd::Done;
            }
            Err(stop) => return self.finish(stop),
        }
        if self.conn.buffered().first() != Some(&MAGIC) {
            return self.echo();
        }
        match self.binary() {
            Ok(()) => SessionEnd::Done,
            Err(stop) => self.finish(stop),
        }
    }

    /// Waits until at least one byte is buffered; `false` on a clean EOF.
    fn wait_for_input(&mut self) -> Result<bool, Stop> {
        while self.conn.buffered().is_empty() {
            if !self.read()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One blocking read with the idle, frame-deadline and stop checks; `false` on EOF.
    fn read(&mut self) -> Result<bool, Stop> {
        if self.ctx.stop.load(Ordering::Relaxed) {
            return Err(Stop::Shutdown);
        }
        let fill = self.conn.fill()?;
        if self.frame_started.is_none() && !self.conn.buffered().is_empty() {
            self.frame_started = Some(Instant::now());
        }
        let limit = self.ctx.config.frame_timeout;
        if self.frame_started.is_some_and(|at| at.elapsed() >= limit) {
            return Err(Stop::Refuse(
                ErrorCode::Timeout,
                format!("a frame or line not whole within {} ms", limit.as_millis()),
            ));
        }
        match fill {
            Fill::Data(_) | Fill::Full => {
                self.last_input = Instant::now();
                Ok(true)
            }
            Fill::Eof => Ok(false),
            Fill::Idle => {
                if self.last_input.elapsed() >= self.ctx.config.idle_timeout {
                    return Err(Stop::Refuse(
                        ErrorCode::Timeout,
                        format!("idle for {}s", self.ctx.config.idle_timeout.as_secs()),
                    ));
                }
                Ok(true)
            }
        }
    }

    fn finish(&mut self, stop: Stop) -> SessionEnd {
        let (code, failed) = match &stop {
            Stop::Refuse(code, _) => (Some(*code), false),
            Stop::Fail(code, _) => (Some(*code), true),
            Stop::Shutdown => (Some(ErrorCode::ShuttingDown), false),
            Stop::Gone(_) => (None, false),
        };
        let text = stop.to_string();
        if failed {
            log::error!(
                "action: session | result: fail | ip: {} | agency: {} | error: {}",
                self.ip,
                self.progress.agency,
                field(&text)
            );
        } else if matches!(stop, Stop::Shutdown) {
            log::info!(
                "action: shutdown | result: in_progress | resource: session | ip: {} | agency: {}",
                self.ip,
                self.progress.agency
            );
        } else {
            log::warn!(
                "action: session | result: fail | ip: {} | agency: {} | error: {}",
                self.ip,
                self.progress.agency,
                field(&text)
            );
        }
        // Released before the peer hears why: an agency that reconnects at once is not told
        // AgencyBusy by its own ending session (the coordinator reads requests in order).
        self.release_claim();
        if let Some(code) = code {
            // The code travels in its own byte; the text is only the detail.
            let detail = match &stop {
                Stop::Refuse(_, detail) | Stop::Fail(_, detail) => detail.as_str(),
                Stop::Shutdown | Stop::Gone(_) => text.as_str(),
            };
            let _ = self.conn.send(&ServerMessage::Error { code, text: detail });
        }
        if failed {
            SessionEnd::Failed
        } else {
            SessionEnd::Done
        }
    }
}
