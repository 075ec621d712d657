//! The binary protocol's request loop: every whole buffered frame is decoded and handled, and
//! the bets among them are gathered for one write.

use super::store::PendingBatch;
use super::{Session, Stop, GROUP_BYTES};
use crate::connection::Fill;
use crate::domain::Bet;
use crate::protocol::{ErrorCode, Message};
use crate::storage::append_row;

impl Session<'_, '_> {
    pub(super) fn binary(&mut self) -> Result<(), Stop> {
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
            // That frame is whole; the clock starts again with the next one's bytes.
            self.frame_started = None;
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
