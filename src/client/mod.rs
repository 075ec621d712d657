//! The agency client: echo (exercises 1–4), one bet (exercise 5), or a whole agency (6–8).
//!
//! An agency upload is resumable: the server's `WELCOME` says how many of the agency's bets are
//! stored, the client skips that many rows of its file and continues, so a dropped connection, a
//! restarted server or a restarted client neither loses nor repeats a bet. While a sender thread
//! reads, encodes and sends batches (up to `batch.window` ahead), the main thread reads the
//! acknowledgements in order and logs each one.

mod source;

pub use source::BetSource;

use std::fmt;
use std::io::{self, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{ClientConfig, Mode};
use crate::connection::{Connection, Fill};
use crate::domain::Bet;
use crate::logging::field;
use crate::protocol::{self, BatchBuilder, ErrorCode, Message, RawBet};

/// How often blocking reads and sleeps look at the stop flag.
const TICK: Duration = Duration::from_millis(200);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Why an attempt ended without finishing.
#[derive(Debug)]
pub enum ClientError {
    /// Worth reconnecting: the connection broke or the server asked us to retry.
    Retry(String),
    /// Not worth retrying: bad data, bad config, a refusal that will not change.
    Fatal(String),
    /// SIGTERM.
    Stopped,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Retry(why) | ClientError::Fatal(why) => f.write_str(why),
            ClientError::Stopped => f.write_str("stopped by signal"),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(err: io::Error) -> Self {
        ClientError::Retry(err.to_string())
    }
}

fn refused(code: ErrorCode, text: &str) -> ClientError {
    let why = format!("server refused: {code}: {text}");
    if code.is_retryable() {
        ClientError::Retry(why)
    } else {
        ClientError::Fatal(why)
    }
}

/// Runs the configured mode; returns the process exit code.
pub fn run(config: &ClientConfig, stop: &AtomicBool) -> i32 {
    let id = config.id;
    let outcome = match config.mode {
        Mode::Echo => echo_loop(config, stop),
        Mode::Bet => with_retries(config, stop, |progress| {
            send_one_bet(config, stop, progress)
        }),
        Mode::Agency => {
            with_retries(config, stop, |progress| upload(config, stop, progress)).map(|winners| {
                log::info!(
                    "action: consulta_ganadores | result: success | cant_ganadores: {}",
                    winners.len()
                );
            })
        }
    };
    match outcome {
        Ok(()) => 0,
        Err(ClientError::Stopped) => {
            log::info!(
                "action: shutdown | result: success | client_id: {id} | closed: socket data_file"
            );
            0
        }
        Err(err) => {
            log::error!(
                "action: client | result: fail | client_id: {id} | error: {}",
                field(&err.to_string())
            );
            1
        }
    }
}

/// When an attempt last made progress (connected and greeted, or had a batch acknowledged); the
/// retry window counts from there, so a long upload that drops late still gets the whole window.
#[derive(Debug)]
struct Progress(std::cell::Cell<Instant>);

impl Progress {
    fn now() -> Progress {
        Progress(std::cell::Cell::new(Instant::now()))
    }

    fn mark(&self) {
        self.0.set(Instant::now());
    }

    fn deadline(&self, window: Duration) -> Instant {
        self.0.get() + window
    }
}

/// Repeats `attempt` while it fails with a retryable error, until `retry.timeout` has passed
/// without progress.
fn with_retries<T>(
    config: &ClientConfig,
    stop: &AtomicBool,
    mut attempt: impl FnMut(&Progress) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let progress = Progress::now();
    let mut backoff = Duration::from_millis(100);
    let mut tries = 0u32;
    loop {
        match attempt(&progress) {
            Err(ClientError::Retry(why)) => {
                tries += 1;
                if Instant::now() >= progress.deadline(config.retry_timeout) {
                    return Err(ClientError::Fatal(format!(
                        "gave up after {tries} attempts and {}s without progress: {why}",
                        config.retry_timeout.as_secs()
                    )));
                }
                log::warn!(
                    "action: reconnect | result: in_progress | client_id: {} | attempt: {tries} | reason: {}",
                    config.id,
                    field(&why)
                );
                sleep(backoff, stop)?;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            other => return other,
        }
    }
}

/// Sleeps in short steps so SIGTERM is noticed.
fn sleep(total: Duration, stop: &AtomicBool) -> Result<(), ClientError> {
    let until = Instant::now() + total;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(ClientError::Stopped);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// Connects, retrying until the retry window closes (the name is resolved again on each try).
fn connect(
    config: &ClientConfig,
    stop: &AtomicBool,
    progress: &Progress,
) -> Result<TcpStream, ClientError> {
    let deadline = progress.deadline(config.retry_timeout);
    let mut backoff = Duration::from_millis(50);
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(ClientError::Stopped);
        }
        let error = match config.server_address.to_socket_addrs() {
            Ok(addrs) => {
                let mut last = String::from("no address");
                let mut connected = None;
                for addr in addrs {
                    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
                        Ok(stream) => {
                            connected = Some(stream);
                            break;
                        }
                        Err(err) => last = err.to_string(),
                    }
                }
                match connected {
                    Some(stream) => {
                        stream.set_nodelay(true)?;
                        stream.set_read_timeout(Some(TICK))?;
                        return Ok(stream);
                    }
                    None => last,
                }
            }
            Err(err) => err.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(ClientError::Retry(format!(
                "connect to {}: {error}",
                config.server_address
            )));
        }
        log::debug!(
            "action: connect | result: fail | address: {} | error: {}",
            config.server_address,
            field(&error)
        );
        sleep(backoff, stop)?;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn read_secret(config: &ClientConfig) -> Result<Vec<u8>, ClientError> {
    match &config.secret_file {
        None => Ok(Vec::new()),
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim().as_bytes().to_vec())
            .map_err(|err| ClientError::Fatal(format!("secret file {}: {err}", path.display()))),
    }
}

/// Waits for the next whole frame and hands it to `take`; no idle limit (waiting for the draw is
/// not idleness), only SIGTERM.
fn next_frame<T>(
    conn: &mut Connection,
    stop: &AtomicBool,
    take: impl FnOnce(Message<'_>) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    loop {
        // Decode first so a frame already buffered is not delayed by a read.
        let decoded = conn
            .next_frame()
            .map_err(|err| ClientError::Retry(format!("bad frame from server: {err}")))?;
        if let Some(message) = decoded {
            return take(message);
        }
        if stop.load(Ordering::Relaxed) {
            return Err(ClientError::Stopped);
        }
        if conn.fill()? == Fill::Eof {
            return Err(ClientError::Retry("server closed the connection".into()));
        }
    }
}

/// `HELLO` and its `WELCOME`: where this agency's upload stands.
fn greet(
    conn: &mut Connection,
    config: &ClientConfig,
    stop: &AtomicBool,
) -> Result<(u64, bool), ClientError> {
    let secret = read_secret(config)?;
    conn.send(&Message::Hello {
        agency: config.id,
        secret: &secret,
    })?;
    next_frame(conn, stop, |message| match message {
        Message::Welcome { position, ended } => Ok((position, ended)),
        Message::Error { code, text } => Err(refused(code, text)),
        other => Err(ClientError::Retry(format!(
            "unexpected reply to HELLO: {other:?}"
        ))),
    })
}

/// Exercise 5: one bet from the environment, stored exactly once even across restarts.
fn send_one_bet(
    config: &ClientConfig,
    stop: &AtomicBool,
    progress: &Progress,
) -> Result<(), ClientError> {
    let var = |name: &str| {
        std::env::var(name).map_err(|_| ClientError::Fatal(format!("{name} is not set")))
    };
    let fields = [
        var("NOMBRE")?,
        var("APELLIDO")?,
        var("DOCUMENTO")?,
        var("NACIMIENTO")?,
        var("NUMERO")?,
    ];
    let raw = RawBet {
        first_name: fields[0].as_bytes(),
        last_name: fields[1].as_bytes(),
        document: fields[2].as_bytes(),
        birthdate: fields[3].as_bytes(),
        number: fields[4].as_bytes(),
    };
    let bet =
        Bet::validate(&raw).map_err(|err| ClientError::Fatal(format!("invalid bet: {err}")))?;
    let mut conn = Connection::new(connect(config, stop, progress)?);
    let (position, _) = greet(&mut conn, config, stop)?;
    progress.mark();
    // The agency's first bet is this one: if it is stored already, a previous run sent it.
    if position == 0 {
        let mut out = Vec::new();
        protocol::encode_bet(0, &bet.raw(), &mut out)
            .map_err(|err| ClientError::Fatal(err.to_string()))?;
        conn.send_bytes(&out)?;
        next_frame(&mut conn, stop, |message| match message {
            Message::Ack { .. } => Ok(()),
            Message::Error { code, text } => Err(refused(code, text)),
            other => Err(ClientError::Retry(format!(
                "unexpected reply to BET: {other:?}"
            ))),
        })?;
    }
    log::info!(
        "action: apuesta_enviada | result: success | dni: {} | numero: {}",
        bet.document,
        bet.number
    );
    Ok(())
}

/// Exercises 1–4: `loop.amount` echo round trips, `loop.period` apart.
fn echo_loop(config: &ClientConfig, stop: &AtomicBool) -> Result<(), ClientError> {
    let id = config.id;
    for i in 1..=config.loop_amount {
        let message = format!("[CLIENT {id}] Message N°{i}");
        let reply = with_retries(config, stop, |progress| {
            let mut conn = Connection::new(connect(config, stop, progress)?);
            conn.send_bytes(format!("{message}\n").as_bytes())?;
            loop {
                if let Some(line) = conn.take_line(protocol::MAX_FRAME_LEN) {
                    return Ok(line);
                }
                if stop.load(Ordering::Relaxed) {
                    return Err(ClientError::Stopped);
                }
                if conn.fill()? == Fill::Eof {
                    return Ok(conn.take_rest());
                }
            }
        })?;
        let reply = String::from_utf8_lossy(&reply);
        let reply = reply.trim_end_matches(['\n', '\r']);
        if reply != message {
            return Err(ClientError::Fatal(format!(
                "echo mismatch: sent {message:?}, got {reply:?}"
            )));
        }
        log::info!(
            "action: receive_message | result: success | client_id: {id} | msg: {}",
            field(reply)
        );
        if i < config.loop_amount {
            sleep(config.loop_period, stop)?;
        }
    }
    log::info!("action: loop_finished | result: success | client_id: {id}");
    Ok(())
}

/// What the sender thread has put on the wire, for the reader to match acknowledgements against.
enum Sent {
    /// A batch of `count` bets ending at agency position `end`.
    Batch { count: usize, end: u64 },
    /// END after `total` bets.
    End { total: u64 },
}

/// Exercises 6–8: upload from the server's position, END, then the winners.
fn upload(
    config: &ClientConfig,
    stop: &AtomicBool,
    progress: &Progress,
) -> Result<Vec<String>, ClientError> {
    let stream = connect(config, stop, progress)?;
    let mut conn = Connection::new(stream.try_clone()?);
    let (position, ended) = greet(&mut conn, config, stop)?;
    progress.mark();
    log::debug!(
        "action: hello | result: success | client_id: {} | position: {position} | ended: {ended}",
        config.id
    );
    if !ended {
        let source = BetSource::open(&config.data_file, position).map_err(ClientError::Fatal)?;
        let (sent_tx, sent_rx) = mpsc::sync_channel::<Sent>(config.window);
        let sender_error = Mutex::new(None);
        std::thread::scope(|scope| {
            let writer = &stream;
            let error = &sender_error;
            scope.spawn(move || {
                if let Err(err) = send_all(source, writer, position, config, &sent_tx, stop) {
                    if let Ok(mut slot) = error.lock() {
                        *slot = Some(err);
                    }
                    // Wake the reader, which is blocked on the socket.
                    let _ = writer.shutdown(Shutdown::Both);
                }
            });
            let result = read_acks(&mut conn, &sent_rx, stop, progress);
            if result.is_err() {
                // Unblock a sender waiting on a full window or a full socket.
                drop(sent_rx);
                let _ = stream.shutdown(Shutdown::Both);
            }
            result
        })
        .map_err(|err| {
            sender_error
                .lock()
                .ok()
                .and_then(|mut slot| slot.take())
                .unwrap_or(err)
        })?;
    }
    conn.send(&Message::Winners)?;
    let mut winners = Vec::new();
    loop {
        let done = next_frame(&mut conn, stop, |message| match message {
            Message::WinnerList { total, documents } => {
                winners.extend(documents.iter().map(str::to_owned));
                Ok(winners.len() >= total as usize)
            }
            Message::Error { code, text } => Err(refused(code, text)),
            other => Err(ClientError::Retry(format!(
                "unexpected reply to WINNERS: {other:?}"
            ))),
        })?;
        if done {
            return Ok(winners);
        }
    }
}

/// The sender thread: reads the file, sends batches and END, recording each in `sent`.
fn send_all(
    mut source: BetSource,
    mut writer: &TcpStream,
    mut position: u64,
    config: &ClientConfig,
    sent: &SyncSender<Sent>,
    stop: &AtomicBool,
) -> Result<(), ClientError> {
    let mut batch = BatchBuilder::new(config.batch_max_amount);
    batch.reset(position);
    let mut flush = |batch: &mut BatchBuilder, position: &mut u64| -> Result<(), ClientError> {
        let count = batch.len();
        *position += count as u64;
        // Record first: the acknowledgement may arrive before `write_all` returns.
        sent.send(Sent::Batch {
            count,
            end: *position,
        })
        .map_err(|_| ClientError::Retry("reader stopped".into()))?;
        writer.write_all(
            batch
                .frame()
                .map_err(|err| ClientError::Fatal(err.to_string()))?,
        )?;
        batch.reset(*position);
        Ok(())
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(ClientError::Stopped);
        }
        let Some(bet) = source.next_bet().map_err(ClientError::Fatal)? else {
            break;
        };
        let raw = bet.raw();
        if !batch
            .push(&raw)
            .map_err(|err| ClientError::Fatal(err.to_string()))?
        {
            flush(&mut batch, &mut position)?;
            batch
                .push(&raw)
                .map_err(|err| ClientError::Fatal(err.to_string()))?;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut position)?;
    }
    sent.send(Sent::End { total: position })
        .map_err(|_| ClientError::Retry("reader stopped".into()))?;
    let mut out = Vec::new();
    protocol::encode(&Message::End { total: position }, &mut out)
        .map_err(|err| ClientError::Fatal(err.to_string()))?;
    writer.write_all(&out)?;
    Ok(())
}

/// The reader: matches each acknowledgement to what was sent, in order, until END is acknowledged.
fn read_acks(
    conn: &mut Connection,
    sent: &Receiver<Sent>,
    stop: &AtomicBool,
    progress: &Progress,
) -> Result<(), ClientError> {
    loop {
        let position = next_frame(conn, stop, |message| match message {
            Message::Ack { position } => Ok(position),
            Message::Error { code, text } => Err(refused(code, text)),
            other => Err(ClientError::Retry(format!("unexpected reply: {other:?}"))),
        })?;
        let expected = loop {
            match sent.recv_timeout(TICK) {
                Ok(expected) => break expected,
                Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::Relaxed) => {}
                Err(RecvTimeoutError::Timeout) => return Err(ClientError::Stopped),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(ClientError::Retry(
                        "acknowledgement for nothing sent".into(),
                    ))
                }
            }
        };
        match expected {
            Sent::Batch { count, end } if end == position => {
                progress.mark();
                log::info!("action: apuesta_enviada | result: success | cantidad: {count}");
            }
            Sent::End { total } if total == position => return Ok(()),
            Sent::Batch { end, .. } | Sent::End { total: end } => {
                return Err(ClientError::Fatal(format!(
                    "server acknowledged position {position}, expected {end}"
                )))
            }
        }
    }
}
