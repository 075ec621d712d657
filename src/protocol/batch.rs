//! Building `BETS` frames in place, so the client encodes each bet once and never exceeds 8 kB.

use super::encoding::{finish_frame, put_bet};
use super::{CodecError, Kind, RawBet, BATCH_PREFIX_LEN, HEADER_LEN, MAGIC, MAX_FRAME_LEN};

/// Accumulates bets into one `BETS` frame until a bet count or the frame size is reached.
#[derive(Debug)]
pub struct BatchBuilder {
    frame: Vec<u8>,
    count: u16,
    max_count: u16,
    start: u64,
}

impl BatchBuilder {
    /// An empty batch that will hold at most `max_count` bets (and never more than 8 kB).
    pub fn new(max_count: u16) -> Self {
        let mut builder = BatchBuilder {
            frame: Vec::with_capacity(MAX_FRAME_LEN),
            count: 0,
            max_count: max_count.max(1),
            start: 0,
        };
        builder.reset(0);
        builder
    }

    /// Empties the batch; the next bets start at agency position `start`.
    pub fn reset(&mut self, start: u64) {
        self.frame.clear();
        self.frame
            .extend_from_slice(&[MAGIC, Kind::Bets as u8, 0, 0]);
        self.frame.extend_from_slice(&start.to_be_bytes());
        self.frame.extend_from_slice(&[0, 0]);
        self.count = 0;
        self.start = start;
    }

    /// Adds `bet` if it fits; `Ok(false)` means the batch is full and must be sent first.
    ///
    /// # Errors
    /// [`CodecError::Oversized`] when the bet cannot fit even in an empty batch (a field over 255
    /// bytes), so the caller does not loop forever.
    pub fn push(&mut self, bet: &RawBet<'_>) -> Result<bool, CodecError> {
        let needed = super::encoded_bet_len(bet);
        if HEADER_LEN + BATCH_PREFIX_LEN + needed > MAX_FRAME_LEN {
            return Err(CodecError::Oversized("bet"));
        }
        if self.count == self.max_count || self.frame.len() + needed > MAX_FRAME_LEN {
            return Ok(false);
        }
        let before = self.frame.len();
        if let Err(err) = put_bet(&mut self.frame, bet) {
            self.frame.truncate(before);
            return Err(err);
        }
        self.count += 1;
        Ok(true)
    }

    /// Bets in the batch.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the batch holds no bets.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Position of the batch's first bet.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The finished frame, ready to write.
    ///
    /// # Errors
    /// Never in practice: `push` keeps the frame within limits.
    pub fn frame(&mut self) -> Result<&[u8], CodecError> {
        let count_at = HEADER_LEN + 8;
        self.frame[count_at..count_at + 2].copy_from_slice(&self.count.to_be_bytes());
        finish_frame(&mut self.frame, 0)?;
        Ok(&self.frame)
    }
}
