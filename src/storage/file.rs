//! The session child's side of the bets file: whole-batch appends and group commit.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::lock::Locked;
use super::{lock_path, CommitState, PendingRows, StorageError};
use crate::config::SyncMode;

/// An append handle on the bets file, opened by each session child after `fork`.
pub struct BetsFile<'s> {
    path: PathBuf,
    file: File,
    sync_lock: File,
    commit: &'s CommitState,
    mode: SyncMode,
}

impl<'s> BetsFile<'s> {
    /// Opens (creating if needed) the bets file for appending, and its group-commit lock file.
    ///
    /// # Errors
    /// Either file cannot be opened.
    pub fn open(
        path: &Path,
        commit: &'s CommitState,
        mode: SyncMode,
    ) -> Result<Self, StorageError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(StorageError::io("open", path))?;
        let lock = lock_path(path);
        let sync_lock = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&lock)
            .map_err(StorageError::io("open", &lock))?;
        Ok(BetsFile {
            path: path.to_path_buf(),
            file,
            sync_lock,
            commit,
            mode,
        })
    }

    /// Appends `rows` (the whole rows of one or more batches) in one write under the exclusive
    /// lock, then, in durable mode, waits until they are on disk. `rows` is left empty either way.
    ///
    /// # Errors
    /// The write or the sync failed; nothing of `rows` counts as stored (a partial write is cut
    /// off before the lock is released).
    pub fn append(&mut self, rows: &mut PendingRows) -> Result<(), StorageError> {
        let written = self.append_locked(rows.bytes());
        rows.clear();
        let end = written?;
        if self.mode == SyncMode::Durable {
            self.sync_through(end)?;
        }
        Ok(())
    }

    fn append_locked(&mut self, rows: &[u8]) -> Result<u64, StorageError> {
        let _locked = Locked::exclusive(&self.file, &self.path)?;
        let committed = self.commit.committed();
        let len = self
            .file
            .metadata()
            .map_err(StorageError::io("stat", &self.path))?
            .len();
        if len > committed {
            // A writer died between its write and its commit: its bytes were never acknowledged.
            self.file
                .set_len(committed)
                .map_err(StorageError::io("truncate a torn batch of", &self.path))?;
            log::warn!(
                "action: repair_bets | result: success | file: {} | removed_bytes: {}",
                self.path.display(),
                len - committed
            );
        } else if len < committed {
            return Err(StorageError::Corrupt {
                path: self.path.clone(),
                offset: len,
                reason: format!("file shrank below its committed length {committed}"),
            });
        }
        if let Err(source) = (&self.file).write_all(rows) {
            // Leave no partial batch behind for readers or the next writer.
            let _ = self.file.set_len(committed);
            return Err(StorageError::Io {
                action: "append to",
                path: self.path.clone(),
                source,
            });
        }
        let end = committed + rows.len() as u64;
        self.commit.set_committed(end);
        Ok(end)
    }

    /// Group commit: one `fdatasync` covers every batch committed before it, across children.
    fn sync_through(&mut self, end: u64) -> Result<(), StorageError> {
        if self.commit.synced() >= end {
            return Ok(());
        }
        let _locked = Locked::exclusive(&self.sync_lock, &self.path)?;
        // Whoever held the lock before us may have synced our bytes already.
        if self.commit.synced() >= end {
            return Ok(());
        }
        let target = self.commit.committed();
        self.file
            .sync_data()
            .map_err(StorageError::io("fdatasync", &self.path))?;
        self.commit.raise_synced(target);
        Ok(())
    }
}
