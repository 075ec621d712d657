//! The coordinator's view of storage: positions, the END journal and the draw.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use coordinator::{AgencyId, Ledger};
use fs2::FileExt as _;

use super::scan::{scan_bets, ScanSummary};
use super::{ends_path, CommitState, StorageError};
use crate::domain::has_won;

/// The journal line that says the round's draw ran.
const DRAW_RECORD: &str = "draw";

/// Reads the bets file incrementally: each call catches up from where the last one stopped, so
/// the whole file is read once per coordinator run, keeping only counts and winners.
pub struct BetsLedger<'s> {
    path: PathBuf,
    file: File,
    commit: &'s CommitState,
    scanned: u64,
    bets: u64,
    counts: HashMap<AgencyId, u64>,
    winners: BTreeMap<AgencyId, Vec<String>>,
    ends_path: PathBuf,
    ends: File,
    ended: BTreeSet<AgencyId>,
    /// Bets in the file when it was opened.
    stored_at_open: u64,
    /// Whether the journal records that this round's draw ran.
    drawn: bool,
}

impl<'s> BetsLedger<'s> {
    /// Opens the bets file and its END journal, repairs a torn last row, and reads what is stored.
    ///
    /// # Errors
    /// I/O failures, or rows that are not bets before the last row (corruption a crash cannot
    /// explain).
    pub fn open(path: &Path, commit: &'s CommitState) -> Result<Self, StorageError> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(StorageError::io("open", path))?;
        let ends_path = ends_path(path);
        let ends = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&ends_path)
            .map_err(StorageError::io("open", &ends_path))?;
        sync_directory(path);
        let mut ledger = BetsLedger {
            path: path.to_path_buf(),
            file,
            commit,
            scanned: 0,
            bets: 0,
            counts: HashMap::new(),
            winners: BTreeMap::new(),
            ended: BTreeSet::new(),
            ends_path,
            ends,
            stored_at_open: 0,
            drawn: false,
        };
        let (len, ms) = ledger.recover()?;
        ledger.stored_at_open = ledger.bets;
        ledger.read_ends()?;
        if ledger.bets == 0 && ledger.ended.is_empty() {
            log::info!(
                "action: nueva_ronda | result: success | file: {}",
                crate::logging::field(&ledger.path.display().to_string())
            );
        } else {
            log::info!(
                "action: recover_bets | result: success | file: {} | bets: {} | bytes: {len} | ended: {} | drawn: {} | ms: {ms}",
                crate::logging::field(&ledger.path.display().to_string()),
                ledger.bets,
                ledger.ended.len(),
                ledger.drawn
            );
        }
        Ok(ledger)
    }

    /// Every agency with bets or an END on record.
    pub fn agencies_on_record(&self) -> BTreeSet<AgencyId> {
        self.counts.keys().chain(&self.ended).copied().collect()
    }

    /// Scans the whole file under the exclusive lock and cuts off a torn last row; returns the
    /// file's length and the milliseconds it took.
    fn recover(&mut self) -> Result<(u64, u128), StorageError> {
        let started = Instant::now();
        self.file
            .lock_exclusive()
            .map_err(StorageError::io("lock", &self.path))?;
        let result = self.recover_locked();
        let _ = fs2::FileExt::unlock(&self.file);
        Ok((result?, started.elapsed().as_millis()))
    }

    fn recover_locked(&mut self) -> Result<u64, StorageError> {
        let len = self
            .file
            .metadata()
            .map_err(StorageError::io("stat", &self.path))?
            .len();
        // Every row we write ends in '\n': bytes after the last one are a torn row.
        let complete = self.end_of_last_line(len)?;
        let summary = self.scan(0, complete)?;
        let good = match summary.fault {
            None => summary.end,
            Some(fault) if fault.is_last => {
                log::warn!(
                    "action: repair_bets | result: in_progress | file: {} | offset: {} | reason: {}",
                    self.path.display(),
                    fault.offset,
                    fault.reason
                );
                fault.offset
            }
            Some(fault) => {
                return Err(StorageError::Corrupt {
                    path: self.path.clone(),
                    offset: fault.offset,
                    reason: fault.reason,
                })
            }
        };
        if good < len {
            self.file
                .set_len(good)
                .map_err(StorageError::io("truncate the torn tail of", &self.path))?;
            log::warn!(
                "action: repair_bets | result: success | file: {} | removed_bytes: {}",
                self.path.display(),
                len - good
            );
        }
        // Whatever a previous run left in the page cache is made durable before anyone relies on it.
        self.file
            .sync_data()
            .map_err(StorageError::io("fdatasync", &self.path))?;
        self.commit.reset(good);
        Ok(good)
    }

    fn end_of_last_line(&self, len: u64) -> Result<u64, StorageError> {
        let mut end = len;
        let mut chunk = [0u8; 4096];
        while end > 0 {
            let start = end.saturating_sub(chunk.len() as u64);
            let buf = &mut chunk[..(end - start) as usize];
            self.file
                .read_exact_at(buf, start)
                .map_err(StorageError::io("read", &self.path))?;
            if let Some(at) = buf.iter().rposition(|&b| b == b'\n') {
                return Ok(start + at as u64 + 1);
            }
            end = start;
        }
        Ok(0)
    }

    fn scan(&mut self, from: u64, to: u64) -> Result<ScanSummary, StorageError> {
        let (counts, winners, bets) = (&mut self.counts, &mut self.winners, &mut self.bets);
        let summary = scan_bets(&self.file, from, to, |bet| {
            *bets += 1;
            *counts.entry(bet.agency).or_insert(0) += 1;
            if has_won(bet.number) {
                let document = String::from_utf8_lossy(bet.document).into_owned();
                winners.entry(bet.agency).or_default().push(document);
            }
        })
        .map_err(StorageError::io("read", &self.path))?;
        self.scanned = summary.end;
        Ok(summary)
    }

    /// Reads what writers committed since the last call, under the shared lock.
    fn catch_up(&mut self) -> Result<(), StorageError> {
        self.file
            .lock_shared()
            .map_err(StorageError::io("lock", &self.path))?;
        let to = self.commit.committed();
        let result = self.scan(self.scanned, to);
        let _ = fs2::FileExt::unlock(&self.file);
        match result?.fault {
            None => Ok(()),
            Some(fault) => Err(StorageError::Corrupt {
                path: self.path.clone(),
                offset: fault.offset,
                reason: fault.reason,
            }),
        }
    }

    /// Reads the journal: one `agency,total` line per END, and a `draw` line once the draw ran.
    fn read_ends(&mut self) -> Result<(), StorageError> {
        let mut text = String::new();
        (&self.ends)
            .read_to_string(&mut text)
            .map_err(StorageError::io("read", &self.ends_path))?;
        let mut ended = BTreeSet::new();
        // Only whole lines count: a torn last line is an END that was never acknowledged.
        let whole = text.rfind('\n').map_or("", |at| &text[..at]);
        for line in whole.lines() {
            if line == DRAW_RECORD {
                self.drawn = true;
                continue;
            }
            let parsed = line
                .split_once(',')
                .and_then(|(a, t)| Some((a.parse::<u32>().ok()?, t.parse::<u64>().ok()?)));
            match parsed {
                Some((agency, total)) => {
                    let stored = self.counts.get(&agency).copied().unwrap_or(0);
                    if stored != total {
                        log::warn!(
                            "action: recover_ends | result: fail | agency: {agency} | ended_with: {total} | stored: {stored}"
                        );
                    }
                    ended.insert(agency);
                }
                None => log::warn!(
                    "action: recover_ends | result: fail | file: {} | line: {}",
                    self.ends_path.display(),
                    line.replace('|', "/")
                ),
            }
        }
        if whole.len() + usize::from(!whole.is_empty()) < text.len() {
            let keep = if whole.is_empty() {
                0
            } else {
                whole.len() as u64 + 1
            };
            self.ends.set_len(keep).map_err(StorageError::io(
                "truncate the torn tail of",
                &self.ends_path,
            ))?;
        }
        self.ended = ended;
        Ok(())
    }

    /// Appends one line to the journal and makes it durable.
    fn journal(&mut self, line: &str) -> Result<(), StorageError> {
        self.ends
            .write_all(line.as_bytes())
            .and_then(|()| self.ends.sync_data())
            .map_err(StorageError::io("append to", &self.ends_path))
    }
}

impl Ledger for BetsLedger<'_> {
    type Error = StorageError;

    fn position(&mut self, agency: AgencyId) -> Result<u64, StorageError> {
        self.catch_up()?;
        Ok(self.counts.get(&agency).copied().unwrap_or(0))
    }

    fn stored_at_open(&self) -> u64 {
        self.stored_at_open
    }

    fn ended(&self) -> BTreeSet<AgencyId> {
        self.ended.clone()
    }

    fn record_end(&mut self, agency: AgencyId, total: u64) -> Result<(), StorageError> {
        self.journal(&format!("{agency},{total}\n"))?;
        self.ended.insert(agency);
        Ok(())
    }

    fn drawn(&self) -> bool {
        self.drawn
    }

    fn record_draw(&mut self) -> Result<(), StorageError> {
        self.journal(&format!("{DRAW_RECORD}\n"))?;
        self.drawn = true;
        Ok(())
    }

    fn draw(&mut self) -> Result<BTreeMap<AgencyId, Vec<String>>, StorageError> {
        let started = Instant::now();
        self.catch_up()?;
        log::debug!(
            "action: draw_scan | result: success | bets: {} | us: {}",
            self.bets,
            started.elapsed().as_micros()
        );
        Ok(self.winners.clone())
    }
}

/// Makes the names of the bets file and the journal durable: `fdatasync` of a file covers its
/// bytes, not its directory entry, so a file created this run could vanish in a power cut with
/// every acknowledged batch in it. Runs at open, before any session can acknowledge. A directory
/// that cannot be synced (some network or FUSE file systems) is logged, not fatal: the contents
/// are still synced, and refusing to start would lose more than it protects.
fn sync_directory(bets: &Path) {
    let dir = match bets.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Err(err) = File::open(dir).and_then(|d| d.sync_all()) {
        log::warn!(
            "action: sync_directory | result: fail | dir: {} | error: {err}",
            dir.display()
        );
    }
}

#[cfg(test)]
mod tests;
