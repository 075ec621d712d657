//! The binary protocol's request loop: every whole buffered frame is decoded and handled, and
//! the bets among them are gathered for one write.

use super::store::{refused_batch, PendingBatch};
use super::{Session, Stop, GROUP_BYTES};
use crate::connection::Fill;
use crate::domain::Bet;
use crate::protocol::{ClientMessage, ErrorCode};

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
                .next_frame::<ClientMessage<'_>>()
                .map_err(|err| Stop::Refuse(ErrorCode::Malformed, err.to_string()))?;
            let Some(message) = message else {
                if !self.pending.is_empty() {
                    // Pick up frames that already arrived so they share this write and sync.
                    if matches!(self.conn.try_fill()?, Fill::Data(_)) {
                        continue;
                    }
                    return Ok(true);
                }
                return self.read();
            };
            // That frame is whole; the clock starts again with the next one's bytes.
            self.frame_started = None;
            match message {
                ClientMessage::Bets { start, bets } => {
                    let count = bets.len();
                    self.progress
                        .check_batch(start)
                        .map_err(|stop| refused_batch(count, stop))?;
                    let before = self.rows.mark();
                    for (index, raw) in bets.iter().enumerate() {
                        match Bet::validate(&raw) {
                            Ok(bet) => self.rows.push(self.progress.agency, &bet),
                            Err(err) => {
                                self.rows.roll_back(before);
                                let text = format!("bet {index}: {err}");
                                let stop = Stop::Refuse(ErrorCode::InvalidBet, text);
                                return Err(refused_batch(count, stop));
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
                ClientMessage::Bet { start, bet: raw } => {
                    self.progress
                        .check_batch(start)
                        .map_err(|stop| refused_batch(1, stop))?;
                    let bet = Bet::validate(&raw).map_err(|err| {
                        refused_batch(1, Stop::Refuse(ErrorCode::InvalidBet, err.to_string()))
                    })?;
                    self.rows.push(self.progress.agency, &bet);
                    self.progress.position += 1;
                    let single = Some((bet.document.to_string(), bet.number));
                    self.pending.push(PendingBatch {
                        count: 1,
                        position: self.progress.position,
                        single,
                    });
                }
                ClientMessage::Hello { agency, secret } => {
                    let secret = secret.to_vec();
                    self.store_group()?;
                    self.hello(agency, &secret)?;
                }
                ClientMessage::End { total } => {
                    self.store_group()?;
                    self.end(total)?;
                }
                ClientMessage::Winners => {
                    self.store_group()?;
                    self.winners()?;
                }
            }
            if self.rows.len_bytes() >= GROUP_BYTES {
                return Ok(true);
            }
        }
    }
}
