//! What a reading of the bets file keeps, per agency: how many bets, their receipt and the
//! winners' documents. The coordinator keeps one up to date as it reads; a recount builds one
//! from a whole file ([`tally_file`]); both from the same scan, so they cannot disagree.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use super::scan::{scan_bets, ScannedBet};
use super::StorageError;
use crate::domain::{has_won, ContentHasher, Digest, Receipt, ReceiptBuilder};

/// One agency's share of a [`Tally`].
#[derive(Debug, Clone, Default)]
struct AgencyTally {
    receipt: ReceiptBuilder,
    winners: Vec<String>,
}

/// Counts, receipts and winners per agency, of the bets read so far in file order.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    bets: u64,
    agencies: HashMap<u32, AgencyTally>,
}

impl Tally {
    /// Adds the next stored bet.
    pub(crate) fn add(&mut self, bet: ScannedBet<'_>) {
        self.bets += 1;
        let agency = self.agencies.entry(bet.agency).or_default();
        agency.receipt.add(
            bet.first_name,
            bet.last_name,
            bet.document,
            bet.birthdate,
            bet.number,
        );
        if has_won(bet.number) {
            let document = String::from_utf8_lossy(bet.document).into_owned();
            agency.winners.push(document);
        }
    }

    /// Bets read, of every agency.
    pub fn bets(&self) -> u64 {
        self.bets
    }

    /// Bets read of `agency`.
    pub fn count(&self, agency: u32) -> u64 {
        self.agencies
            .get(&agency)
            .map_or(0, |tally| tally.receipt.count())
    }

    /// The receipt of `agency`'s bets read so far (of none, if it has none).
    pub fn receipt(&self, agency: u32) -> Receipt {
        self.agencies.get(&agency).map_or_else(
            || ReceiptBuilder::new().receipt(),
            |tally| tally.receipt.receipt(),
        )
    }

    /// The documents of `agency`'s winning bets, in file order.
    pub fn winners(&self, agency: u32) -> &[String] {
        self.agencies
            .get(&agency)
            .map_or(&[], |tally| tally.winners.as_slice())
    }

    /// Every agency with a bet read, in no particular order.
    pub fn agencies(&self) -> impl Iterator<Item = u32> + '_ {
        self.agencies.keys().copied()
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
