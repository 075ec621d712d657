//! The agency client: echo (exercises 1–4), one bet (exercise 5), or a whole agency (6–8).
//!
//! An agency upload is resumable: the server's `WELCOME` says how many of the agency's bets are
//! stored, the client skips that many rows of its file and continues, so a dropped connection, a
//! restarted server or a restarted client neither loses nor repeats a bet. While a sender thread
//! reads, encodes and sends batches (up to `batch.window` ahead), the main thread reads the
//! acknowledgements in order and logs each one.
//!
//! Before an upload connects, `check` reads the whole agency file: a file with a bad row sends
//! nothing, so an agency never stores half its file and then stops short of END.
//!
//! One file per job: `start` (the process: configuration, logging, signals), `retry`
//! (reconnecting within the retry window), `exchange` (`HELLO`, next frame), `echo`, `bet` and
//! `upload` (one per mode), `source` (the agency file), `check` (the agency file read once before
//! connecting), `receipt` (the digest of the file's bets, checked against the central's answer
//! to `WINNERS`).

mod as_sent;
mod bet;
mod check;
mod echo;
mod exchange;
mod receipt;
mod retry;
mod source;
mod start;
mod upload;

use bet::send_one_bet;
use echo::echo_loop;
use retry::with_retries;
use upload::upload;

use check::{check_file, CheckedFile};
pub use source::{BadRow, BetSource, FileStamp, Problem, Skipped};
pub use start::start;

use std::fmt;
use std::io;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::config::{ClientConfig, Mode};
use crate::logging::field;
use crate::protocol::ErrorCode;

/// How often blocking reads and sleeps look at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(200);
/// How often a read waiting for the draw looks at the stop flag.
const WINNERS_TICK: Duration = Duration::from_secs(1);
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
    let outcome = match config.mode {
        Mode::Echo => echo_loop(config, stop),
        Mode::Bet => with_retries(config, stop, |progress| {
            send_one_bet(config, stop, progress)
        }),
        Mode::Agency => {
            check_file(&config.data_file, stop).and_then(|checked| agency(config, stop, &checked))
        }
        Mode::Check => check_file(&config.data_file, stop).map(|_| ()),
    };
    exit_code(config, outcome)
}

/// `client-one-pass`, built only for `make bench` (feature `one-pass-client`): an agency's upload
/// without the check before connecting, validating and hashing each row as it sends it instead
/// (`upload::AsSent`), so the bench can measure what the pass before connecting costs a round;
/// any other mode runs as [`run`] does.
#[cfg(feature = "one-pass-client")]
pub fn run_one_pass(config: &ClientConfig, stop: &AtomicBool) -> i32 {
    if config.mode != Mode::Agency {
        return run(config, stop);
    }
    let unread = BetSource::start(&config.data_file).map_err(ClientError::Fatal);
    let outcome = unread.and_then(|source| {
        let stamp = source.stamp();
        agency(
            config,
            stop,
            &CheckedFile {
                stamp,
                receipt: None,
            },
        )
    });
    exit_code(config, outcome)
}

/// Exercises 6–8 from a checked file: the upload, retried while it is worth it, then the
/// winners' count.
fn agency(
    config: &ClientConfig,
    stop: &AtomicBool,
    checked: &CheckedFile,
) -> Result<(), ClientError> {
    let winners = with_retries(config, stop, |progress| {
        upload(config, stop, progress, checked)
    })?;
    log::info!(
        "action: consulta_ganadores | result: success | cant_ganadores: {}",
        winners.len()
    );
    Ok(())
}

/// The exit code of a mode's `outcome`, logged: 0 when it finished or was stopped by a signal.
fn exit_code(config: &ClientConfig, outcome: Result<(), ClientError>) -> i32 {
    let id = config.id;
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
