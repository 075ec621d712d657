//! One connection, served by one forked child from its first byte to its close.
//!
//! The first byte decides the dialect: anything but `0xFF` is a text line to echo (exercise 3);
//! `0xFF` starts the binary protocol. A binary session is `HELLO`, then bets, `END` and the winners
//! query. Bets that arrive together are stored together: every whole frame already received is
//! validated and encoded, then written in one append and covered by one sync before each batch is
//! acknowledged in order. A refused frame is answered with an `ERROR` after the batches before it
//! are stored and acknowledged, and the connection closes; nothing of the refused batch is stored.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use coordinator::{ClaimReply, EndReply, Request, WinnersReply};
use ipc_channel::ipc::{self, IpcSender, TryRecvError};
use serde::{de::DeserializeOwned, Serialize};

use crate::config::{Secrets, ServerConfig};
use crate::connection::{Connection, Fill};
use crate::domain::Bet;
use crate::logging::field;
use crate::protocol::{self, ErrorCode, Message, MAGIC, MAX_FRAME_LEN};
use crate::storage::{append_row, BetsFile, CommitState, StorageError};

/// How often a blocked read or wait looks at the stop flag.
const TICK: Duration = Duration::from_millis(200);
/// Bytes of rows gathered before they are written even if more frames are waiting.
const GROUP_BYTES: usize = 512 * 1024;
/// How long a claim or END may wait for the coordinator.
const COORDINATOR_TIMEOUT: Duration = Duration::from_secs(60);

/// What a session needs from the process that forked it.
pub struct SessionContext<'a> {
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
}

/// How a session ended, which becomes the child's exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The peer was served or refused cleanly (exit 0).
    Done,
    /// The server failed the peer: storage or coordinator trouble (exit 1).
    Failed,
}

impl SessionEnd {
    /// The child's exit code.
    pub fn exit_code(&self) -> i32 {
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
pub fn run(stream: TcpStream, peer: SocketAddr, ctx: &SessionContext<'_>) -> SessionEnd {
    let ip = peer.ip().to_canonical().to_string();
    let _ = stream.set_nodelay(true);
    if let Err(err) = stream.set_read_timeout(Some(TICK)) {
        log::error!("action: session | result: fail | ip: {ip} | error: {err}");
        return SessionEnd::Failed;
    }
    let mut session = Session {
        conn: Connection::new(stream),
        ctx,
        ip,
        progress: Progress::default(),
        last_input: Instant::now(),
        rows: Vec::with_capacity(GROUP_BYTES + MAX_FRAME_LEN * 2),
        pending: Vec::new(),
        file: None,
    };
    let end = session.serve();
    if session.progress.claimed {
        // Best effort: a dead session's claim also lapses when its pid is gone.
        let _ = ctx.coordinator.send(Request::Release {
            session: std::process::id(),
        });
    }
    let _ = session.conn.stream().shutdown(std::net::Shutdown::Both);
    log::debug!(
        "action: shutdown | result: success | resource: session | ip: {} | agency: {} | closed: socket bets_file",
        session.ip,
        session.progress.agency
    );
    end
}

/// A batch stored in the current group, waiting for its acknowledgement.
struct PendingBatch {
    count: usize,
    position: u64,
    single: Option<(String, u16)>,
}

struct Session<'c, 'a> {
    conn: Connection,
    ctx: &'c SessionContext<'a>,
    ip: String,
    progress: Progress,
    last_input: Instant,
    rows: Vec<u8>,
    pending: Vec<PendingBatch>,
    file: Option<BetsFile<'a>>,
}

impl Session<'_, '_> {
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

    /// One blocking read with the idle and stop checks; `false` on EOF.
    fn read(&mut self) -> Result<bool, Stop> {
        if self.ctx.stop.load(Ordering::Relaxed) {
            return Err(Stop::Shutdown);
        }
        match self.conn.fill()? {
            Fill::Data(_) => {
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

    fn echo(&mut self) -> SessionEnd {
        let line = loop {
            if let Some(line) = self.conn.take_line(MAX_FRAME_LEN) {
                break line;
            }
            if self.conn.buffered().len() >= MAX_FRAME_LEN {
                log::error!("action: receive_message | result: fail | ip: {} | error: line longer than 8192 bytes", self.ip);
                return SessionEnd::Done;
            }
            match self.read() {
                Ok(true) => {}
                Ok(false) => break self.conn.take_rest(),
                Err(stop) => return self.finish(stop),
            }
        };
        if let Err(err) = self.conn.send_bytes(&line) {
            log::error!(
                "action: receive_message | result: fail | ip: {} | error: {err}",
                self.ip
            );
            return SessionEnd::Done;
        }
        let text = String::from_utf8_lossy(&line);
        let msg = text.trim_end_matches(['\n', '\r']);
        log::info!(
            "action: receive_message | result: success | ip: {} | msg: {}",
            self.ip,
            field(msg)
        );
        SessionEnd::Done
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
        if let Some(code) = code {
            // The code travels in its own byte; the text is only the detail.
            let detail = match &stop {
                Stop::Refuse(_, detail) | Stop::Fail(_, detail) => detail.as_str(),
                Stop::Shutdown | Stop::Gone(_) => text.as_str(),
            };
            let _ = self.conn.send(&Message::Error { code, text: detail });
        }
        if failed {
            SessionEnd::Failed
        } else {
            SessionEnd::Done
        }
    }

    fn binary(&mut self) -> Result<(), Stop> {
        loop {
            let outcome = self.take_frames();
            // Whatever happened, batches already stored in this group get their acknowledgements
            // before the refusal (or the next read).
            self.store_group()?;
            if !outcome? {
                return Ok(());
            }
        }
    }

    /// Decodes and handles every whole buffered frame; reads more when none is left. Returns
    /// `false` when the peer closed cleanly.
    fn take_frames(&mut self) -> Result<bool, Stop> {
        loop {
            let message = self
                .conn
                .next_frame()
                .map_err(|err| Stop::Refuse(ErrorCode::Malformed, err.to_string()))?;
            let Some(message) = message else {
                if !self.pending.is_empty() {
                    // Pick up frames that already arrived so they share this write and sync.
                    if matches!(self.conn.try_fill()?, Fill::Data(n) if n > 0) {
                        continue;
                    }
                    return Ok(true);
                }
                return self.read();
            };
            match message {
                Message::Bets { start, bets } => {
                    let count = bets.len();
                    self.progress.check_batch(start, count)?;
                    let before = self.rows.len();
                    for (index, raw) in bets.iter().enumerate() {
                        match Bet::validate(&raw) {
                            Ok(bet) => append_row(&mut self.rows, self.progress.agency, &bet),
                            Err(err) => {
                                self.rows.truncate(before);
                                log::error!(
                                    "action: apuesta_recibida | result: fail | cantidad: {count}"
                                );
                                return Err(Stop::Refuse(
                                    ErrorCode::InvalidBet,
                                    format!("bet {index}: {err}"),
                                ));
                            }
                        }
                    }
                    self.progress.position += count as u64;
                    self.pending.push(PendingBatch {
                        count,
                        position: self.progress.position,
                        single: None,
                    });
                }
                Message::Bet { start, bet: raw } => {
                    self.progress.check_batch(start, 1)?;
                    let bet = Bet::validate(&raw).map_err(|err| {
                        log::error!("action: apuesta_recibida | result: fail | cantidad: 1");
                        Stop::Refuse(ErrorCode::InvalidBet, err.to_string())
                    })?;
                    append_row(&mut self.rows, self.progress.agency, &bet);
                    self.progress.position += 1;
                    let single = Some((bet.document.to_string(), bet.number));
                    self.pending.push(PendingBatch {
                        count: 1,
                        position: self.progress.position,
                        single,
                    });
                }
                Message::Hello { agency, secret } => {
                    let secret = secret.to_vec();
                    self.store_group()?;
                    self.hello(agency, &secret)?;
                }
                Message::End { total } => {
                    self.store_group()?;
                    self.end(total)?;
                }
                Message::Winners => {
                    self.store_group()?;
                    self.winners()?;
                }
                Message::Welcome { .. }
                | Message::Ack { .. }
                | Message::WinnerList { .. }
                | Message::Error { .. } => {
                    return Err(Stop::Refuse(
                        ErrorCode::Malformed,
                        "a server message sent by a client".into(),
                    ));
                }
            }
            if self.rows.len() >= GROUP_BYTES {
                return Ok(true);
            }
        }
    }
}

/// Which agency the session holds and where its stream stands.
#[derive(Default)]
struct Progress {
    agency: u32,
    position: u64,
    ended: bool,
    claimed: bool,
}

impl Progress {
    fn check_batch(&self, start: u64, count: usize) -> Result<(), Stop> {
        let refuse = |code, text: String| {
            log::error!("action: apuesta_recibida | result: fail | cantidad: {count}");
            Err(Stop::Refuse(code, text))
        };
        if !self.claimed {
            return refuse(ErrorCode::BadAgency, "HELLO must come first".into());
        }
        if self.ended {
            return refuse(
                ErrorCode::AlreadyEnded,
                format!("agency {} already sent END", self.agency),
            );
        }
        if start != self.position {
            return refuse(
                ErrorCode::PositionMismatch,
                format!(
                    "batch starts at {start}, stored bets end at {}",
                    self.position
                ),
            );
        }
        Ok(())
    }
}

impl Session<'_, '_> {
    /// Writes the gathered rows in one append (one sync), then acknowledges each batch in order.
    fn store_group(&mut self) -> Result<(), Stop> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(BetsFile::open(
                &self.ctx.config.bets_file,
                self.ctx.commit,
                self.ctx.config.sync,
            )?),
        };
        if let Err(err) = file.append(&self.rows) {
            for batch in self.pending.drain(..) {
                log::error!(
                    "action: apuesta_recibida | result: fail | cantidad: {}",
                    batch.count
                );
            }
            self.rows.clear();
            return Err(err.into());
        }
        self.rows.clear();
        let mut acks = Vec::with_capacity(self.pending.len() * 12);
        for batch in self.pending.drain(..) {
            protocol::encode(
                &Message::Ack {
                    position: batch.position,
                },
                &mut acks,
            )
            .map_err(|err| Stop::Gone(err.to_string()))?;
            match batch.single {
                Some((document, number)) => {
                    log::info!("action: apuesta_almacenada | result: success | dni: {document} | numero: {number}")
                }
                None => log::info!(
                    "action: apuesta_recibida | result: success | cantidad: {}",
                    batch.count
                ),
            }
        }
        self.conn.send_bytes(&acks)?;
        Ok(())
    }

    fn hello(&mut self, agency: u32, secret: &[u8]) -> Result<(), Stop> {
        if self.progress.claimed {
            return Err(Stop::Refuse(
                ErrorCode::Malformed,
                "HELLO sent twice".into(),
            ));
        }
        if agency == 0 || agency > self.ctx.config.agencies {
            return Err(Stop::Refuse(
                ErrorCode::BadAgency,
                format!("agency {agency} is not in 1..={}", self.ctx.config.agencies),
            ));
        }
        if let Some(secrets) = self.ctx.secrets {
            if !secrets.accepts(agency, secret) {
                log::warn!(
                    "action: authenticate | result: fail | ip: {} | agency: {agency}",
                    self.ip
                );
                return Err(Stop::Refuse(
                    ErrorCode::Unauthorized,
                    format!("wrong secret for agency {agency}"),
                ));
            }
        }
        let session = std::process::id();
        let reply = self.ask(
            |reply| Request::Claim {
                agency,
                session,
                reply,
            },
            Some(COORDINATOR_TIMEOUT),
        )?;
        match reply {
            ClaimReply::Granted { position, ended } => {
                self.progress.agency = agency;
                self.progress.position = position;
                self.progress.ended = ended;
                self.progress.claimed = true;
                log::info!(
                    "action: hello | result: success | ip: {} | agency: {agency} | position: {position} | ended: {ended}",
                    self.ip
                );
                self.conn.send(&Message::Welcome { position, ended })?;
                Ok(())
            }
            ClaimReply::Busy => Err(Stop::Refuse(
                ErrorCode::AgencyBusy,
                format!("agency {agency} is connected elsewhere"),
            )),
            ClaimReply::Failed(err) => Err(Stop::Fail(ErrorCode::Unavailable, err)),
        }
    }

    fn end(&mut self, total: u64) -> Result<(), Stop> {
        if !self.progress.claimed {
            return Err(Stop::Refuse(
                ErrorCode::BadAgency,
                "HELLO must come first".into(),
            ));
        }
        let (agency, session) = (self.progress.agency, std::process::id());
        let reply = self.ask(
            |reply| Request::End {
                agency,
                session,
                total,
                reply,
            },
            Some(COORDINATOR_TIMEOUT),
        )?;
        match reply {
            EndReply::Recorded { position } => {
                self.progress.ended = true;
                self.conn.send(&Message::Ack { position })?;
                Ok(())
            }
            EndReply::CountMismatch { stored } => Err(Stop::Refuse(
                ErrorCode::CountMismatch,
                format!("END says {total} bets, {stored} are stored"),
            )),
            EndReply::NotHolder => Err(Stop::Fail(
                ErrorCode::Unavailable,
                "the coordinator lost this claim".into(),
            )),
            EndReply::Failed(err) => Err(Stop::Fail(ErrorCode::Unavailable, err)),
        }
    }

    fn winners(&mut self) -> Result<(), Stop> {
        if !self.progress.claimed {
            return Err(Stop::Refuse(
                ErrorCode::BadAgency,
                "HELLO must come first".into(),
            ));
        }
        if !self.progress.ended {
            return Err(Stop::Refuse(
                ErrorCode::NotEnded,
                "send END before asking for winners".into(),
            ));
        }
        let agency = self.progress.agency;
        // Waiting for the other agencies is not idleness: no timeout here, only SIGTERM.
        match self.ask(|reply| Request::Winners { agency, reply }, None)? {
            WinnersReply::Winners(documents) => {
                let mut out = Vec::new();
                protocol::encode_winners(&documents, &mut out)
                    .map_err(|err| Stop::Fail(ErrorCode::Unavailable, err.to_string()))?;
                self.conn.send_bytes(&out)?;
                log::info!(
                    "action: enviar_ganadores | result: success | agency: {agency} | cant_ganadores: {}",
                    documents.len()
                );
                Ok(())
            }
            WinnersReply::NotEnded => Err(Stop::Refuse(
                ErrorCode::NotEnded,
                "send END before asking for winners".into(),
            )),
            WinnersReply::Failed(err) => Err(Stop::Fail(ErrorCode::Unavailable, err)),
        }
    }

    /// Sends a request with a fresh reply channel and waits for the answer, watching SIGTERM.
    fn ask<T: Serialize + DeserializeOwned>(
        &self,
        request: impl FnOnce(IpcSender<T>) -> Request,
        timeout: Option<Duration>,
    ) -> Result<T, Stop> {
        let unavailable =
            |why: String| Stop::Fail(ErrorCode::Unavailable, format!("coordinator: {why}"));
        let (reply, answer) = ipc::channel::<T>().map_err(|err| unavailable(err.to_string()))?;
        self.ctx
            .coordinator
            .send(request(reply))
            .map_err(|err| unavailable(format!("{err:?}")))?;
        let started = Instant::now();
        loop {
            if self.ctx.stop.load(Ordering::Relaxed) {
                return Err(Stop::Shutdown);
            }
            match answer.try_recv_timeout(TICK) {
                Ok(value) => return Ok(value),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::IpcError(ipc::IpcError::Io(err)))
                    if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(TryRecvError::IpcError(err)) => return Err(unavailable(format!("{err:?}"))),
            }
            if timeout.is_some_and(|limit| started.elapsed() >= limit) {
                return Err(unavailable("no answer in time".into()));
            }
        }
    }
}
