//! Batched disk writes: the rows of every batch gathered from the buffered frames go out in one
//! append and one sync, then each batch is acknowledged in order.

use super::{Session, Stop};
use crate::protocol::{ErrorCode, ServerMessage};
use crate::storage::BetsFile;

/// A batch stored in the current group, waiting for its acknowledgement.
pub(super) struct PendingBatch {
    pub(super) count: usize,
    pub(super) position: u64,
    pub(super) single: Option<(String, u16)>,
}

/// Which agency the session holds and where its stream stands.
#[derive(Default)]
pub(super) struct AgencyStream {
    pub(super) agency: u32,
    pub(super) position: u64,
    pub(super) ended: bool,
    pub(super) claimed: bool,
}

/// The one place a refused batch of `count` bets is logged; returns `stop` to end the session.
pub(super) fn refused_batch(count: usize, stop: Stop) -> Stop {
    log::error!("action: apuesta_recibida | result: fail | cantidad: {count}");
    stop
}

impl AgencyStream {
    /// Whether a batch starting at `start` may be stored now: the agency is claimed, has not
    /// ended, and the batch continues its stream exactly.
    pub(super) fn check_batch(&self, start: u64) -> Result<(), Stop> {
        let refuse = |code, text: String| Err(Stop::Refuse(code, text));
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
    pub(super) fn store_group(&mut self) -> Result<(), Stop> {
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
        if let Err(err) = file.append(&mut self.rows) {
            let mut stop = Stop::from(err);
            for batch in self.pending.drain(..) {
                stop = refused_batch(batch.count, stop);
            }
            return Err(stop);
        }
        let mut acks = Vec::with_capacity(self.pending.len());
        for batch in self.pending.drain(..) {
            acks.push(ServerMessage::Ack {
                position: batch.position,
            });
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
        // One write for the whole group's acknowledgements.
        self.conn.send_many(acks)?;
        Ok(())
    }
}
