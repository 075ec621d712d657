//! Reconnecting: the retry window counts from the last progress, with a capped backoff, and
//! every wait watches SIGTERM.

use super::{ClientError, MAX_BACKOFF, STOP_POLL};
use crate::config::ClientConfig;
use crate::logging::field;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// When an attempt last made progress (connected and greeted, or had a batch acknowledged); the
/// retry window counts from there, so a long upload that drops late still gets the whole window.
#[derive(Debug)]
pub(super) struct LastProgress(std::cell::Cell<Instant>);

impl LastProgress {
    pub(super) fn now() -> LastProgress {
        LastProgress(std::cell::Cell::new(Instant::now()))
    }

    pub(super) fn mark(&self) {
        self.0.set(Instant::now());
    }

    pub(super) fn deadline(&self, window: Duration) -> Instant {
        self.0.get() + window
    }
}

/// Repeats `attempt` while it fails with a retryable error, until `retry.timeout` has passed
/// without progress.
pub(super) fn with_retries<T>(
    config: &ClientConfig,
    stop: &AtomicBool,
    mut attempt: impl FnMut(&LastProgress) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let progress = LastProgress::now();
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
pub(super) fn sleep(total: Duration, stop: &AtomicBool) -> Result<(), ClientError> {
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
pub(super) fn connect(
    config: &ClientConfig,
    stop: &AtomicBool,
    progress: &LastProgress,
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
                        stream.set_read_timeout(Some(STOP_POLL))?;
                        // A connection whose server or route vanished silently fails within
                        // seconds, leaving the retry window to reconnect.
                        crate::connection::detect_dead_peer(&stream)?;
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
        // The server may still be starting: a retry is progress, not a failure.
        log::debug!(
            "action: connect | result: in_progress | address: {} | error: {}",
            config.server_address,
            field(&error)
        );
        sleep(backoff, stop)?;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
