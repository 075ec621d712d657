//! What the coordinator needs from the rest of the server: storage and process liveness.

use std::collections::BTreeSet;
use std::fmt;

use crate::messages::{AgencyId, Documents, Receipt, SessionId};

/// What the coordinator needs from storage: positions, durable ENDs and the draw.
pub trait Ledger {
    /// The storage error, shown in logs and in `Failed` replies.
    type Error: fmt::Display;

    /// How many bets of `agency` are stored, catching up with everything appended so far.
    fn position(&mut self, agency: AgencyId) -> Result<u64, Self::Error>;

    /// How many bets were stored when the ledger was opened (0: nothing of a round is on record).
    fn stored_at_open(&self) -> u64;

    /// The agencies whose END is already durable (read when the ledger was opened).
    fn ended(&self) -> BTreeSet<AgencyId>;

    /// Writes the END of `agency`, after `total` bets: durable once [`Ledger::sync_ends`] returns.
    fn record_end(&mut self, agency: AgencyId, total: u64) -> Result<(), Self::Error>;

    /// Makes every END written so far durable, with one sync for all of them.
    fn sync_ends(&mut self) -> Result<(), Self::Error>;

    /// Whether a draw of this round is already on record (an earlier run drew).
    fn drawn(&self) -> bool;

    /// Makes the fact that the draw ran durable, so a restart recovers it instead of drawing again.
    fn record_draw(&mut self) -> Result<(), Self::Error>;

    /// Reads every stored bet for the draw of agencies `1..=agencies` and returns what it read
    /// in all; what it read of each agency is then [`Ledger::drawn_for`]. The ledger reads no bet
    /// after it (every agency has ended, so the file is final), so asking again answers the same.
    fn draw(&mut self, agencies: u32) -> Result<Draw, Self::Error>;

    /// What the draw read of `agency`: its winners' documents in file order and the receipt of
    /// its bets; `None` before the draw, or for an agency not of its `1..=agencies`. Asked per
    /// agency instead of handed over at once: a copy of every agency's part, beside the
    /// ledger's own, was an eighth of the coordinator's peak memory at 10,000 agencies.
    fn drawn_for(&self, agency: AgencyId) -> Option<AgencyDraw>;
}

/// What the ledger read for the draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    /// Bets read, of every agency.
    pub bets: u64,
    /// The digest of the bytes the draw read, as the log shows it (hex).
    pub digest: String,
    /// Winning bets, of every agency.
    pub winners: u64,
}

/// One agency's part of the draw ([`Ledger::drawn_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyDraw {
    /// The documents of its winning bets, in file order.
    pub winners: Documents,
    /// What the draw read of its bets.
    pub receipt: Receipt,
}

/// Tells whether a session is still alive; a dead holder's claim is void.
pub trait Liveness {
    /// True while the session's process exists.
    fn is_alive(&self, session: SessionId) -> bool;
}
