//! Lazy views over decoded payloads: the bets of a `BETS` frame and the documents of a winners
//! list, checked for layout when decoded and read without copying.

use super::decoding::{read_bet, Cursor};
use super::{Kind, RawBet};

/// The bets of a `BETS` frame, checked for layout and read lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bets<'a> {
    pub(super) count: u16,
    pub(super) bytes: &'a [u8],
}

impl<'a> Bets<'a> {
    /// How many bets the frame carries.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the frame carries no bets.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The bets in order.
    pub fn iter(&self) -> BetsIter<'a> {
        BetsIter {
            rest: self.bytes,
            left: self.count,
        }
    }
}

/// Iterator over the bets of a frame whose layout was already checked.
pub struct BetsIter<'a> {
    pub(super) rest: &'a [u8],
    pub(super) left: u16,
}

impl<'a> Iterator for BetsIter<'a> {
    type Item = RawBet<'a>;

    fn next(&mut self) -> Option<RawBet<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut cursor = Cursor::new(self.rest);
        // The layout was validated by `decode`, so these reads cannot fail; `ok()?` keeps the
        // iterator total anyway.
        let bet = read_bet(&mut cursor, Kind::Bets).ok()?;
        self.rest = cursor.rest();
        Some(bet)
    }
}

/// Documents in a `WINNER_LIST` frame, read lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Documents<'a> {
    pub(super) count: u16,
    pub(super) bytes: &'a [u8],
}

impl<'a> Documents<'a> {
    /// How many documents this frame carries.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether this frame carries none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The documents, as UTF-8 text checked by `decode`.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut cursor = Cursor::new(self.bytes);
        (0..self.count).filter_map(move |_| cursor.text().ok())
    }
}
