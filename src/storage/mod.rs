//! The bets file and everything that touches it: its format, its locks and its journal.
//!
//! The file is exactly the course's `bets.csv`: rows `agency,first_name,last_name,document,
//! birthdate,number` ending in `\r\n`, quoted only where Python's `csv.QUOTE_MINIMAL` would, so the
//! course's `load_bets` reads it. Beside it live three small files: `<bets>.ends`, the durable
//! journal of END notices and of the draw (`EndJournal`); `<bets>.lock`, the lock that serialises
//! `fdatasync` for group commit; and `<bets>.owner`, held by one server instance and all its
//! children ([`claim_ownership`]).
//!
//! Who writes and who reads:
//! - session children gather rows in [`PendingRows`] and append them through [`BetsFile`], each
//!   group in one `write` under an exclusive `fs2` lock, on a descriptor each child opens itself
//!   after `fork` (flock belongs to the open file description, so an inherited descriptor would
//!   not exclude a sibling);
//! - the coordinator reads through `BetsReader` under a shared lock, incrementally, after it
//!   repaired a torn tail at startup, and records ENDs and the draw in the `EndJournal`; what it
//!   read is a [`Tally`] (counts, receipts, winners) and the digest of the bytes read;
//! - a recount reads a whole file (a copy, say) into the same [`Tally`] with [`tally_file`].
//!
//! [`CommitState`] is a page of shared memory that all of them see: how far the file holds whole
//! batches (`committed`) and how far it is known durable (`synced`). A writer that dies mid-`write`
//! leaves bytes past `committed`; readers never look past it and the next writer cuts them off.

mod file;
mod journal;
mod lock;
mod reader;
mod row;
mod scan;
mod shared;
mod tally;

pub use file::BetsFile;
pub(crate) use journal::EndJournal;
pub(crate) use reader::{sync_directory, BetsReader};
pub use row::{Mark, PendingRows};
pub use shared::CommitState;
pub use tally::{tally_file, FileTally, Tally};

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A storage failure, with what was being done and to which file.
#[derive(Debug)]
pub enum StorageError {
    /// An I/O call failed.
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
    /// Another server instance (or a process it forked) still uses the bets file.
    InUse {
        /// The bets file.
        path: PathBuf,
        /// The pid the holder wrote into the lock file.
        holder: String,
    },
    /// The file holds something that is not a bet row, before its last row.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad row.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

impl StorageError {
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StorageError {
        let path = path.to_path_buf();
        move |source| StorageError::Io {
            action,
            path,
            source,
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io {
                action,
                path,
                source,
            } => write!(f, "{action} {}: {source}", path.display()),
            StorageError::InUse { path, holder } => write!(
                f,
                "{} is in use by another server instance (pid {holder})",
                path.display()
            ),
            StorageError::Corrupt {
                path,
                offset,
                reason,
            } => write!(
                f,
                "{} is corrupt at byte {offset}: {reason}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for StorageError {}

/// The END journal beside a bets file.
pub fn ends_path(bets: &Path) -> PathBuf {
    sibling(bets, ".ends")
}

/// The instance lock file beside a bets file: held by one server and all its children.
pub fn owner_path(bets: &Path) -> PathBuf {
    sibling(bets, ".owner")
}

/// Takes the bets file for this server instance, waiting up to `patience` for a previous
/// instance's processes to be gone.
///
/// The exclusive `flock` belongs to the returned file's open description, which every forked child
/// inherits: while any process of an instance lives, no other server can write the same file with
/// a different commit page.
///
/// # Errors
/// Another instance still holds it after `patience`, or the lock file cannot be opened.
pub fn claim_ownership(
    bets: &Path,
    patience: std::time::Duration,
) -> Result<std::fs::File, StorageError> {
    use fs2::FileExt;
    use std::io::Write;
    let path = owner_path(bets);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(&path)
        .map_err(StorageError::io("open", &path))?;
    let started = std::time::Instant::now();
    while file.try_lock_exclusive().is_err() {
        if started.elapsed() >= patience {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(StorageError::InUse {
                path: bets.to_path_buf(),
                holder: holder.trim().to_string(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|()| file.write_all(pid.as_bytes()))
        .map_err(StorageError::io("write", &path))?;
    Ok(file)
}

/// The group-commit lock file beside a bets file.
pub fn lock_path(bets: &Path) -> PathBuf {
    sibling(bets, ".lock")
}

fn sibling(bets: &Path, suffix: &str) -> PathBuf {
    let mut name = bets.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
