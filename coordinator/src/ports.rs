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

    /// Reads every stored bet and returns, for each agency of `1..=agencies` in order, its
    /// winners' documents in file order and the receipt of its bets; and what the draw read in all.
    /// Called once a draw succeeds: the ledger may hand over what it holds instead of copying it
    /// (the coordinator keeps a draw whose [`Ledger::record_draw`] failed and tries that again).
    fn draw(&mut self, agencies: u32) -> Result<Draw, Self::Error>;
}

/// What the ledger read for the draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draw {
    /// Bets read, of every agency.
    pub bets: u64,
    /// The digest of the bytes the draw read, as the log shows it (hex).
    pub digest: String,
    /// Each agency's winners and receipt, agency 1 first: one entry per agency of the round, in
    /// one allocation (a map had a node per eleven agencies, and collecting one sorted a copy of
    /// every entry first: at 10,000 agencies the copy was 0.6 MiB of the coordinator's peak).
    pub agencies: Vec<AgencyDraw>,
}

impl Draw {
    /// What the draw read of `agency`, if it is one of the round's (`1..=` the entries).
    pub fn agency(&self, agency: AgencyId) -> Option<&AgencyDraw> {
        let at = usize::try_from(agency.checked_sub(1)?).ok()?;
        self.agencies.get(at)
    }
}

/// One agency's part of the [`Draw`].
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
