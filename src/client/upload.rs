//! Exercises 6–8: the agency's file streamed in batches with several in flight (one thread
//! reads the file and sends, the other reads acknowledgements), then END and the winners.

use super::as_sent::AsSent;
use super::check::CheckedFile;
use super::exchange::{greet, next_frame};
use super::receipt;
use super::retry::{connect, LastProgress};
use super::source::BetSource;
use super::{refused, ClientError, STOP_POLL, WINNERS_TICK};
use crate::config::ClientConfig;
use crate::connection::{Connection, FrameWriter};
use crate::protocol::{BatchBuilder, ClientMessage, ServerMessage};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{mpsc, Mutex};

/// What the sender thread has put on the wire, for the reader to match acknowledgements against.
pub(super) enum Sent {
    /// A batch of `count` bets ending at agency position `end`.
    Batch { count: usize, end: u64 },
    /// END after `total` bets.
    End { total: u64 },
}

/// Exercises 6–8: upload from the server's position, END, then the winners; `checked` is the
/// agency file as the check read it.
pub(super) fn upload(
    config: &ClientConfig,
    stop: &AtomicBool,
    progress: &LastProgress,
    checked: &CheckedFile,
) -> Result<Vec<String>, ClientError> {
    let mut conn = Connection::new(connect(config, stop, progress)?);
    let (position, ended) = greet(&mut conn, config, stop)?;
    progress.mark();
    log::debug!(
        "action: hello | result: success | client_id: {} | position: {position} | ended: {ended}",
        config.id
    );
    if !ended {
        let source = BetSource::open(&config.data_file, &checked.stamp, position)
            .map_err(ClientError::Fatal)?;
        let as_sent = AsSent::of(checked);
        let (sent_tx, sent_rx) = mpsc::sync_channel::<Sent>(config.window);
        let sender_error = Mutex::new(None);
        // Set when the reader fails first (say, the server refused a batch): the sender's error
        // that follows ("reader stopped", a broken pipe) is a consequence, not the reason to log.
        let reader_failed = AtomicBool::new(false);
        let writer = conn.writer()?;
        let closer = conn.writer()?;
        std::thread::scope(|scope| {
            let error = &sender_error;
            let reader_failed = &reader_failed;
            scope.spawn(move || {
                let mut writer = writer;
                let sent = send_all(
                    source,
                    &mut writer,
                    position,
                    as_sent,
                    config,
                    &sent_tx,
                    stop,
                );
                if let Err(err) = sent {
                    if !reader_failed.load(Ordering::SeqCst) {
                        if let Ok(mut slot) = error.lock() {
                            *slot = Some(err);
                        }
                    }
                    // Wake the reader, which is blocked on the socket.
                    writer.shutdown();
                }
            });
            let result = read_acks(&mut conn, &sent_rx, stop, progress);
            if result.is_err() {
                reader_failed.store(true, Ordering::SeqCst);
                // Unblock a sender waiting on a full window or a full socket.
                drop(sent_rx);
                closer.shutdown();
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
    conn.send(&ClientMessage::Winners)?;
    // The answer waits for every other agency: with thousands of clients waiting at once, a
    // wake-up every STOP_POLL each cost more CPU than the uploads. The sender thread is gone, so
    // SIGTERM reaches this thread and interrupts the read at once; the tick only bounds a race.
    conn.stream().set_read_timeout(Some(WINNERS_TICK))?;
    // The receipt comes first: winners from a central whose record of our bets differs from our
    // file are not ours to trust.
    next_frame(&mut conn, stop, |message| match message {
        ServerMessage::Receipt { count, digest } => match &checked.receipt {
            Some(ours) => receipt::verify(ours, count, digest),
            None => Ok(()),
        },
        ServerMessage::Error { code, text } => Err(refused(code, text)),
        other => Err(ClientError::Retry(format!(
            "unexpected reply to WINNERS: {other:?}"
        ))),
    })?;
    let mut winners = Vec::new();
    loop {
        let done = next_frame(&mut conn, stop, |message| match message {
            ServerMessage::WinnerList { total, documents } => {
                winners.extend(documents.iter().map(str::to_owned));
                Ok(winners.len() >= total as usize)
            }
            ServerMessage::Error { code, text } => Err(refused(code, text)),
            other => Err(ClientError::Retry(format!(
                "unexpected reply to WINNERS: {other:?}"
            ))),
        })?;
        if done {
            return Ok(winners);
        }
    }
}

/// The sender thread: reads the file from `position` on, doing `as_sent`'s work on each row, and
/// sends batches and END, recording each in `sent`.
pub(super) fn send_all(
    mut source: BetSource,
    writer: &mut FrameWriter,
    mut position: u64,
    mut as_sent: AsSent,
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
        writer.send_batch(batch)?;
        batch.reset(*position);
        Ok(())
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(ClientError::Stopped);
        }
        let row = source
            .next_raw()
            .map_err(|bad| ClientError::Fatal(format!("{} {bad}", config.data_file.display())))?;
        let Some(raw) = row else {
            break;
        };
        as_sent.row(&raw, &config.data_file)?;
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
    as_sent.finish();
    sent.send(Sent::End { total: position })
        .map_err(|_| ClientError::Retry("reader stopped".into()))?;
    writer.send(&ClientMessage::End { total: position })?;
    Ok(())
}

/// The reader: matches each acknowledgement to what was sent, in order, until END is
/// acknowledged.
pub(super) fn read_acks(
    conn: &mut Connection,
    sent: &Receiver<Sent>,
    stop: &AtomicBool,
    progress: &LastProgress,
) -> Result<(), ClientError> {
    loop {
        let position = next_frame(conn, stop, |message| match message {
            ServerMessage::Ack { position } => Ok(position),
            ServerMessage::Error { code, text } => Err(refused(code, text)),
            other => Err(ClientError::Retry(format!("unexpected reply: {other:?}"))),
        })?;
        let expected = loop {
            match sent.recv_timeout(STOP_POLL) {
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
