//! The END journal beside the bets file (`<bets>.ends`): one `agency,total` line per END made
//! durable, and a `draw` line once the round's draw ran.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{ends_path, StorageError};

/// The journal line that says the round's draw ran.
const DRAW_RECORD: &str = "draw";

/// What the journal holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Journaled {
    /// Each END on record: the agency and the total it ended with, in journal order.
    pub ends: Vec<(u32, u64)>,
    /// Whether the round's draw ran.
    pub drawn: bool,
}

/// The END journal, opened by the coordinator.
pub(crate) struct EndJournal {
    path: PathBuf,
    file: File,
}

impl EndJournal {
    /// Opens (creating if needed) the journal beside `bets`; [`super::sync_directory`] then makes
    /// its name durable.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub(crate) fn open(bets: &Path) -> Result<Self, StorageError> {
        let path = ends_path(bets);
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(StorageError::io("open", &path))?;
        Ok(EndJournal { path, file })
    }

    /// Reads every whole line, and cuts off a torn last line (an END that was never
    /// acknowledged). A whole line that is not a record is logged and skipped.
    ///
    /// # Errors
    /// The file cannot be read or cut.
    pub(crate) fn read(&mut self) -> Result<Journaled, StorageError> {
        let mut text = String::new();
        (&self.file)
            .read_to_string(&mut text)
            .map_err(StorageError::io("read", &self.path))?;
        let mut journaled = Journaled::default();
        let whole = text.rfind('\n').map_or("", |at| &text[..at]);
        for line in whole.lines() {
            if line == DRAW_RECORD {
                journaled.drawn = true;
                continue;
            }
            let parsed = line
                .split_once(',')
                .and_then(|(a, t)| Some((a.parse::<u32>().ok()?, t.parse::<u64>().ok()?)));
            match parsed {
                Some(end) => journaled.ends.push(end),
                None => log::warn!(
                    "action: recover_ends | result: fail | file: {} | line: {}",
                    self.path.display(),
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
            self.file
                .set_len(keep)
                .map_err(StorageError::io("truncate the torn tail of", &self.path))?;
        }
        Ok(journaled)
    }

    /// Writes the END of `agency`, after `total` bets: durable once [`EndJournal::sync`] returns.
    ///
    /// # Errors
    /// The write failed.
    pub(crate) fn record_end(&mut self, agency: u32, total: u64) -> Result<(), StorageError> {
        self.file
            .write_all(format!("{agency},{total}\n").as_bytes())
            .map_err(StorageError::io("append to", &self.path))
    }

    /// Makes every END written so far durable.
    ///
    /// # Errors
    /// The sync failed.
    pub(crate) fn sync(&mut self) -> Result<(), StorageError> {
        self.file
            .sync_data()
            .map_err(StorageError::io("sync", &self.path))
    }

    /// Makes the fact that the draw ran durable.
    ///
    /// # Errors
    /// The append or its sync failed.
    pub(crate) fn record_draw(&mut self) -> Result<(), StorageError> {
        self.append(&format!("{DRAW_RECORD}\n"))
    }

    fn append(&mut self, line: &str) -> Result<(), StorageError> {
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(StorageError::io("append to", &self.path))
    }
}
