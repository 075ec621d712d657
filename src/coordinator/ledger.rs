//! The coordinator's [`Ledger`] over the bets file: how many bets each agency has stored, whose
//! END is durable, the winners and each agency's receipt, kept up to date while storage reads
//! the file once per run. The receipts and the file's digest cover exactly the bytes the draw
//! read, as it read them, not what the sessions remember writing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use ::coordinator::{AgencyDraw, Draw, Ledger, Receipt};

use super::AgencyId;
use crate::logging::field;
use crate::storage::{sync_directory, BetsReader, CommitState, EndJournal, StorageError, Tally};

/// Counts and winners per agency, kept up to date from the bets file and the END journal.
pub(crate) struct BetsLedger<'s> {
    reader: BetsReader<'s>,
    journal: EndJournal,
    tally: Tally,
    /// The agencies whose END was durable when the ledger was opened (the coordinator keeps
    /// those of this run).
    ended: BTreeSet<AgencyId>,
    /// ENDs written since the last sync: once it succeeds, their receipts are sealed.
    unsynced: Vec<AgencyId>,
    /// Bets in the file when it was opened.
    stored_at_open: u64,
    /// Whether the journal records that this round's draw ran.
    drawn: bool,
    /// The agencies of the draw, once [`Ledger::draw`] has read the file for it: from then on
    /// no bet is read, so [`Ledger::drawn_for`] answers what the draw read.
    drew: Option<u32>,
}

impl<'s> BetsLedger<'s> {
    /// Opens the bets file and its END journal, repairs a torn last row, and reads what is stored.
    ///
    /// # Errors
    /// I/O failures, or rows that are not bets before the last row (corruption a crash cannot
    /// explain).
    pub(crate) fn open(path: &Path, commit: &'s CommitState) -> Result<Self, StorageError> {
        let mut journal = EndJournal::open(path)?;
        let mut reader = BetsReader::open(path, commit)?;
        // Both names at once, before any session can acknowledge a bet.
        sync_directory(path);
        let mut tally = Tally::default();
        let recovered = reader.recover(|bet| tally.add(bet))?;
        let journaled = journal.read()?;
        let mut ended = BTreeSet::new();
        for (agency, total) in journaled.ends {
            let stored = tally.count(agency);
            if stored != total {
                log::warn!(
                    "action: recover_ends | result: fail | agency: {agency} | ended_with: {total} | stored: {stored}"
                );
            }
            ended.insert(agency);
            // Durable: no bet of it comes after this (its sessions refuse them).
            tally.seal(agency);
        }
        let shown = path.display().to_string();
        let file = field(&shown);
        if tally.bets() == 0 && ended.is_empty() {
            log::info!("action: nueva_ronda | result: success | file: {file}");
        } else {
            log::info!(
                "action: recover_bets | result: success | file: {file} | bets: {} | bytes: {} | ended: {} | drawn: {} | ms: {}",
                tally.bets(),
                recovered.len,
                ended.len(),
                journaled.drawn,
                recovered.ms
            );
        }
        Ok(BetsLedger {
            reader,
            journal,
            stored_at_open: tally.bets(),
            tally,
            ended,
            unsynced: Vec::new(),
            drawn: journaled.drawn,
            drew: None,
        })
    }

    /// Every agency with bets or an END on record.
    pub(crate) fn agencies_on_record(&self) -> BTreeSet<AgencyId> {
        self.tally
            .agencies()
            .chain(self.ended.iter().copied())
            .collect()
    }

    fn catch_up(&mut self) -> Result<(), StorageError> {
        // After the draw the file is final: every agency has ended.
        if self.drew.is_some() {
            return Ok(());
        }
        let tally = &mut self.tally;
        self.reader.catch_up(|bet| tally.add(bet))
    }
}

impl Ledger for BetsLedger<'_> {
    type Error = StorageError;

    fn position(&mut self, agency: AgencyId) -> Result<u64, StorageError> {
        self.catch_up()?;
        Ok(self.tally.count(agency))
    }

    fn stored_at_open(&self) -> u64 {
        self.stored_at_open
    }

    fn ended(&self) -> BTreeSet<AgencyId> {
        self.ended.clone()
    }

    fn sync_ends(&mut self) -> Result<(), StorageError> {
        let synced = self.journal.sync();
        // An END that did not sync is not acknowledged: its agency may still send bets (and END
        // again), so only a durable END closes a receipt.
        for agency in std::mem::take(&mut self.unsynced) {
            if synced.is_ok() {
                self.tally.seal(agency);
            }
        }
        synced
    }

    fn record_end(&mut self, agency: AgencyId, total: u64) -> Result<(), StorageError> {
        self.journal.record_end(agency, total)?;
        self.unsynced.push(agency);
        Ok(())
    }

    fn drawn(&self) -> bool {
        self.drawn
    }

    fn record_draw(&mut self) -> Result<(), StorageError> {
        self.journal.record_draw()?;
        self.drawn = true;
        Ok(())
    }

    fn draw(&mut self, agencies: u32) -> Result<Draw, StorageError> {
        if self.drew.is_none() {
            let started = Instant::now();
            self.catch_up()?;
            log::debug!(
                "action: draw_scan | result: success | bets: {} | us: {}",
                self.tally.bets(),
                started.elapsed().as_micros()
            );
            if self.tally.stale() {
                // A bet of an agency read after its END was durable, which its sessions refuse:
                // its receipt must cover it all the same, so the draw counts every bet afresh.
                log::warn!("action: draw_scan | result: in_progress | detail: a bet after its agency's END; reading the file again");
                let mut fresh = Tally::default();
                self.reader.reread(|bet| fresh.add(bet))?;
                self.tally = fresh;
            }
        }
        self.drew = Some(agencies);
        let winners = (1..=agencies)
            .map(|agency| self.tally.winners(agency).len() as u64)
            .sum();
        Ok(Draw {
            bets: self.tally.bets(),
            digest: self.reader.digest().to_string(),
            winners,
        })
    }

    fn drawn_for(&self, agency: AgencyId) -> Option<AgencyDraw> {
        if !(1..=self.drew?).contains(&agency) {
            return None;
        }
        let receipt = self.tally.receipt(agency);
        Some(AgencyDraw {
            winners: self.tally.winners(agency).clone(),
            receipt: Receipt {
                count: receipt.count,
                digest: receipt.digest.0,
            },
        })
    }
}

#[cfg(test)]
mod tests;
