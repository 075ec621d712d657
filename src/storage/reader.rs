//! The coordinator's side of the bets file: the startup repair, then incremental reads.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::lock::Locked;
use super::scan::{scan_bets, ScanSummary, ScannedBet};
use super::{CommitState, StorageError};
use crate::domain::{ContentHasher, Digest};

/// What the startup repair found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// The file's length after the repair.
    pub len: u64,
    /// How long the repair's scan took.
    pub ms: u128,
}

/// Reads the bets file incrementally: each call goes on from where the last one stopped, so the
/// whole file is read once per coordinator run.
pub(crate) struct BetsReader<'s> {
    path: PathBuf,
    file: File,
    commit: &'s CommitState,
    scanned: u64,
    /// The bytes of `[0, scanned)`, hashed as they were read: what the draw drew from.
    content: ContentHasher,
    /// Where the rows are read, kept for the next catch-up.
    buf: Vec<u8>,
}

impl<'s> BetsReader<'s> {
    /// Opens (creating if needed) the bets file for reading; [`sync_directory`] then makes its
    /// name durable.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub(crate) fn open(path: &Path, commit: &'s CommitState) -> Result<Self, StorageError> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(StorageError::io("open", path))?;
        Ok(BetsReader {
            path: path.to_path_buf(),
            file,
            commit,
            scanned: 0,
            content: ContentHasher::new(),
            buf: Vec::new(),
        })
    }

    /// Reads the whole file under the exclusive lock, calling `visit` for each stored bet, cuts
    /// off a torn last row, makes the rest durable and sets the commit marks to it.
    ///
    /// # Errors
    /// I/O failures, or a row that is not a bet before the last row (corruption a crash cannot
    /// explain).
    pub(crate) fn recover(
        &mut self,
        visit: impl FnMut(ScannedBet<'_>),
    ) -> Result<Recovered, StorageError> {
        let started = Instant::now();
        let _locked = Locked::exclusive(&self.file, &self.path)?;
        let len = self
            .file
            .metadata()
            .map_err(StorageError::io("stat", &self.path))?
            .len();
        // Every row we write ends in '\n': bytes after the last one are a torn row.
        let complete = self.end_of_last_line(len)?;
        self.content = ContentHasher::new();
        let summary = scan(
            &self.file,
            &self.path,
            (0, complete),
            &mut self.buf,
            &mut self.content,
            visit,
        )?;
        self.scanned = summary.end;
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
        Ok(Recovered {
            len: good,
            ms: started.elapsed().as_millis(),
        })
    }

    /// Reads, under the shared lock, what writers committed since the last call.
    ///
    /// # Errors
    /// I/O failures, or a committed row that is not a bet.
    pub(crate) fn catch_up(
        &mut self,
        visit: impl FnMut(ScannedBet<'_>),
    ) -> Result<(), StorageError> {
        let summary = {
            let _locked = Locked::shared(&self.file, &self.path)?;
            let to = self.commit.committed();
            scan(
                &self.file,
                &self.path,
                (self.scanned, to),
                &mut self.buf,
                &mut self.content,
                visit,
            )?
        };
        self.scanned = summary.end;
        match summary.fault {
            None => Ok(()),
            Some(fault) => Err(StorageError::Corrupt {
                path: self.path.clone(),
                offset: fault.offset,
                reason: fault.reason,
            }),
        }
    }

    /// Reads again, under the shared lock, every row read so far, calling `visit` for each.
    ///
    /// # Errors
    /// I/O failures, or rows that are not the bytes read before.
    pub(crate) fn reread(&mut self, visit: impl FnMut(ScannedBet<'_>)) -> Result<(), StorageError> {
        let _locked = Locked::shared(&self.file, &self.path)?;
        let mut content = ContentHasher::new();
        let (file, path) = (&self.file, &self.path);
        let summary = scan(
            file,
            path,
            (0, self.scanned),
            &mut self.buf,
            &mut content,
            visit,
        )?;
        if let Some(fault) = summary.fault {
            return Err(StorageError::Corrupt {
                path: self.path.clone(),
                offset: fault.offset,
                reason: fault.reason,
            });
        }
        if summary.end != self.scanned || content.digest() != self.content.digest() {
            return Err(StorageError::Corrupt {
                path: self.path.clone(),
                offset: 0,
                reason: "the rows read before changed".into(),
            });
        }
        Ok(())
    }

    /// SHA-256 of the bytes read so far, from the start of the file: every bet row the reader
    /// has passed to its callers, each read once.
    pub(crate) fn digest(&self) -> Digest {
        self.content.digest()
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
}

/// Reads the rows of `[from, to)` into `buf`, calling `visit` for each good one; stops at the
/// first bad row.
fn scan(
    file: &File,
    path: &Path,
    (from, to): (u64, u64),
    buf: &mut Vec<u8>,
    content: &mut ContentHasher,
    visit: impl FnMut(ScannedBet<'_>),
) -> Result<ScanSummary, StorageError> {
    scan_bets(file, from, to, buf, content, visit).map_err(StorageError::io("read", path))
}

/// Makes the names of the files in the bets file's directory (itself and its journal) durable,
/// with one `fsync` of the directory: `fdatasync` of a file covers its bytes, not its directory
/// entry, so a file created this run could vanish in a power cut with every acknowledged batch
/// in it. Runs at open, before any session can acknowledge. A directory
/// that cannot be synced (some network or FUSE file systems) is logged, not fatal: the contents
/// are still synced, and refusing to start would lose more than it protects.
pub(crate) fn sync_directory(bets: &Path) {
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
