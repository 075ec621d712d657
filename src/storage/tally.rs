//! What a reading of the bets file keeps, per agency: how many bets, their receipt and the
//! winners' documents. The coordinator keeps one up to date as it reads; a recount builds one
//! from a whole file ([`tally_file`]); both from the same scan, so they cannot disagree.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use super::scan::{scan_bets, ScannedBet};
use super::StorageError;
use crate::domain::{encode_bet, has_won, ContentHasher, Digest, Receipt, PENDING_MAX};
use ::coordinator::Documents;

/// [`AgencyTally::hasher`] of an agency whose receipt is sealed.
const SEALED: usize = usize::MAX;

/// One agency's share of a [`Tally`].
#[derive(Debug, Clone)]
struct AgencyTally {
    /// Its bets read.
    count: u64,
    /// Where its receipt's hasher is in [`Tally::hashers`], or [`SEALED`].
    hasher: usize,
    /// Its receipt's digest, once sealed.
    digest: Digest,
    winners: Documents,
}

/// The SHA-256 of an agency whose receipt is still open, and whose share it is.
#[derive(Debug, Clone)]
struct OpenReceipt {
    share: usize,
    hasher: ContentHasher,
}

/// Counts, receipts and winners per agency, of the bets read so far in file order.
///
/// An agency's receipt is a SHA-256 running over its bets, about 112 bytes of state; sealing it
/// (`Tally::seal`, once its END is durable) keeps only the 32-byte digest. The running states
/// live apart from the shares, so the sealed ones cost nothing: at 10,000 agencies, a state in
/// every share was a fifth of the coordinator's peak memory.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    bets: u64,
    /// Where each agency's share is in `shares`: a `u32`, since there are no more shares than
    /// agency numbers (at 10,000 agencies, 13 bytes fewer per agency than a `usize`).
    index: HashMap<u32, u32>,
    shares: Vec<AgencyTally>,
    /// The hashers of the agencies whose receipts are open, in no order.
    hashers: Vec<OpenReceipt>,
    /// The encodings of the last agency's bets not hashed yet: one buffer for every agency, since
    /// a session appends a whole batch at once.
    pending: Vec<u8>,
    /// The agency of the last bet added and its share: most bets are of the same agency as the
    /// one before, and need no lookup.
    last: Option<(u32, usize)>,
    /// Whether a bet of a sealed agency was read, so its digest does not cover all its bets.
    stale: bool,
}

impl Tally {
    /// Adds the next stored bet.
    pub(crate) fn add(&mut self, bet: ScannedBet<'_>) {
        self.bets += 1;
        let at = match self.last {
            Some((agency, at)) if agency == bet.agency => at,
            _ => {
                // Its batch ended: what it has pending is hashed, and the buffer is the next one's.
                self.hash_pending();
                let at = self.share_of(bet.agency);
                self.last = Some((bet.agency, at));
                at
            }
        };
        let share = &mut self.shares[at];
        share.count += 1;
        if share.hasher == SEALED {
            self.stale = true;
        } else {
            let hasher = share.hasher;
            if self.pending.capacity() == 0 {
                self.pending.reserve(PENDING_MAX + 64);
            }
            encode_bet(
                &mut self.pending,
                bet.first_name,
                bet.last_name,
                bet.document,
                bet.birthdate,
                bet.number,
            );
            if self.pending.len() >= PENDING_MAX {
                self.hashers[hasher].hasher.update(&self.pending);
                self.pending.clear();
            }
        }
        if has_won(bet.number) {
            share.winners.push(&String::from_utf8_lossy(bet.document));
        }
    }

    /// The share of `agency`, made (its receipt open) if it has none.
    fn share_of(&mut self, agency: u32) -> usize {
        let next = self.shares.len();
        // Below 2³² shares, one per agency number, so it fits.
        let at = *self.index.entry(agency).or_insert(next as u32) as usize;
        if at == next {
            self.hashers.push(OpenReceipt {
                share: at,
                hasher: ContentHasher::new(),
            });
            self.shares.push(AgencyTally {
                count: 0,
                hasher: self.hashers.len() - 1,
                digest: Digest([0; 32]),
                winners: Documents::new(),
            });
        }
        at
    }

    /// Hashes the last agency's pending encodings into its receipt.
    fn hash_pending(&mut self) {
        if let Some((_, at)) = self.last {
            if let Some(open) = self.hashers.get_mut(self.shares[at].hasher) {
                open.hasher.update(&self.pending);
            }
        }
        self.pending.clear();
    }

    /// Closes `agency`'s receipt: its digest is kept, its hasher let go. For an agency that will
    /// add no more bets (its END is durable); if one comes all the same, its receipt no longer
    /// covers it and [`Tally::stale`] says so.
    pub(crate) fn seal(&mut self, agency: u32) {
        let at = self.share_of(agency);
        let slot = self.shares[at].hasher;
        if slot == SEALED {
            return;
        }
        if self.last.is_some_and(|(_, last)| last == at) {
            self.hash_pending();
        }
        let open = self.hashers.swap_remove(slot);
        if let Some(moved) = self.hashers.get(slot) {
            self.shares[moved.share].hasher = slot;
        }
        let share = &mut self.shares[at];
        share.digest = open.hasher.finish();
        share.hasher = SEALED;
        // The hashers of a round's agencies go as they end: their memory goes back with them
        // (a large buffer is its own mapping), not only once the last has ended.
        if self.hashers.len() < self.hashers.capacity() / 4 {
            self.hashers.shrink_to(self.hashers.len() * 2);
        }
    }

    /// Whether a bet of an agency was read after its receipt was sealed: then some receipt does
    /// not cover every bet read of its agency, and the bets have to be read again to know it.
    pub(crate) fn stale(&self) -> bool {
        self.stale
    }

    /// How many agencies' receipts are open.
    #[cfg(test)]
    pub(crate) fn hashers_open(&self) -> usize {
        self.hashers.len()
    }

    fn share(&self, agency: u32) -> Option<&AgencyTally> {
        self.index.get(&agency).map(|&at| &self.shares[at as usize])
    }

    /// Bets read, of every agency.
    pub fn bets(&self) -> u64 {
        self.bets
    }

    /// Bets read of `agency`.
    pub fn count(&self, agency: u32) -> u64 {
        self.share(agency).map_or(0, |share| share.count)
    }

    /// The receipt of `agency`'s bets read so far (of none, if it has none).
    pub fn receipt(&self, agency: u32) -> Receipt {
        let Some(share) = self.share(agency) else {
            return Receipt {
                count: 0,
                digest: ContentHasher::new().finish(),
            };
        };
        let digest = match self.hashers.get(share.hasher) {
            None => share.digest,
            Some(open) => {
                let mut hasher = open.hasher.clone();
                if self.last.is_some_and(|(last, _)| last == agency) {
                    hasher.update(&self.pending);
                }
                hasher.finish()
            }
        };
        Receipt {
            count: share.count,
            digest,
        }
    }

    /// The documents of `agency`'s winning bets, in file order.
    pub fn winners(&self, agency: u32) -> &Documents {
        static NONE: Documents = Documents::new();
        self.share(agency).map_or(&NONE, |share| &share.winners)
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
    let summary = scan_bets(&file, 0, len, &mut Vec::new(), &mut content, |bet| {
        tally.add(bet);
    })
    .map_err(StorageError::io("read", path))?;
    Ok(FileTally {
        tally,
        digest: content.digest(),
        len: summary.end,
        fault: summary.fault.map(|fault| (fault.offset, fault.reason)),
    })
}

#[cfg(test)]
mod tests;
