//! What a reading of the bets file keeps, per agency: how many bets, their receipt and the
//! winners' documents. The coordinator keeps one up to date as it reads; a recount builds one
//! from a whole file ([`tally_file`]); both from the same scan, so they cannot disagree.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use super::scan::{scan_bets, ScannedBet};
use super::StorageError;
use crate::domain::{has_won, ContentHasher, Digest, Receipt, ReceiptBuilder};
use ::coordinator::Documents;

/// One agency's share of a [`Tally`].
#[derive(Debug, Clone, Default)]
struct AgencyTally {
    receipt: ReceiptBuilder,
    winners: Documents,
}

/// Counts, receipts and winners per agency, of the bets read so far in file order.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    bets: u64,
    /// Where each agency's share is in `shares`.
    index: HashMap<u32, usize>,
    shares: Vec<AgencyTally>,
    /// The agency of the last bet added and its share: a session appends a whole batch at once,
    /// so most bets are of the same agency as the one before, and need no lookup.
    last: Option<(u32, usize)>,
}

impl Tally {
    /// Adds the next stored bet.
    pub(crate) fn add(&mut self, bet: ScannedBet<'_>) {
        self.bets += 1;
        let at = match self.last {
            Some((agency, at)) if agency == bet.agency => at,
            last => {
                if let Some((_, previous)) = last {
                    // Its batch ended: hash what it has pending so idle agencies hold no buffer.
                    self.shares[previous].receipt.park();
                }
                let next = self.shares.len();
                let at = *self.index.entry(bet.agency).or_insert(next);
                if at == next {
                    self.shares.push(AgencyTally::default());
                }
                self.last = Some((bet.agency, at));
                at
            }
        };
        let share = &mut self.shares[at];
        share.receipt.add(
            bet.first_name,
            bet.last_name,
            bet.document,
            bet.birthdate,
            bet.number,
        );
        if has_won(bet.number) {
            share.winners.push(&String::from_utf8_lossy(bet.document));
        }
    }

    fn share(&self, agency: u32) -> Option<&AgencyTally> {
        self.index.get(&agency).map(|&at| &self.shares[at])
    }

    /// Bets read, of every agency.
    pub fn bets(&self) -> u64 {
        self.bets
    }

    /// Bets read of `agency`.
    pub fn count(&self, agency: u32) -> u64 {
        self.share(agency).map_or(0, |share| share.receipt.count())
    }

    /// The receipt of `agency`'s bets read so far (of none, if it has none).
    pub fn receipt(&self, agency: u32) -> Receipt {
        self.share(agency).map_or_else(
            || ReceiptBuilder::new().receipt(),
            |share| share.receipt.receipt(),
        )
    }

    /// The documents of `agency`'s winning bets, in file order.
    pub fn winners(&self, agency: u32) -> &Documents {
        static NONE: Documents = Documents::new();
        self.share(agency).map_or(&NONE, |share| &share.winners)
    }

    /// Hands over the documents of `agency`'s winning bets, leaving none.
    pub fn take_winners(&mut self, agency: u32) -> Documents {
        let at = self.index.get(&agency).copied();
        at.map_or_else(Documents::new, |at| {
            std::mem::take(&mut self.shares[at].winners)
        })
    }

    /// Every agency with a bet read, in no particular order.
    pub fn agencies(&self) -> impl Iterator<Item = u32> + '_ {
        self.index.keys().copied()
    }
}

/// A whole bets file, read once: its tally and the digest of its bytes.
#[derive(Debug, Clone)]
pub struct FileTally {
    /// Counts, receipts and winners per agency.
    pub tally: Tally,
    /// SHA-256 of the bytes of its bet rows, from the start (the whole file when every row is a bet).
    pub digest: Digest,
    /// The bytes read as bet rows.
    pub len: u64,
    /// Bytes after them that are not bet rows (a torn or altered tail), if any: offset and reason.
    pub fault: Option<(u64, String)>,
}

/// Reads every row of the bets file at `path`, without locking it (for a copy, or a file no
/// server is writing).
///
/// # Errors
/// The file cannot be opened or read.
pub fn tally_file(path: &Path) -> Result<FileTally, StorageError> {
    let file = File::open(path).map_err(StorageError::io("open", path))?;
    let len = file
        .metadata()
        .map_err(StorageError::io("stat", path))?
        .len();
    let mut tally = Tally::default();
    let mut content = ContentHasher::new();
    let summary = scan_bets(&file, 0, len, &mut content, |bet| tally.add(bet))
        .map_err(StorageError::io("read", path))?;
    Ok(FileTally {
        tally,
        digest: content.digest(),
        len: summary.end,
        fault: summary.fault.map(|fault| (fault.offset, fault.reason)),
    })
}
