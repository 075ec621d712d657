//! The `fs2` advisory lock held as a guard, so every path out of a critical section unlocks.

use std::fs::File;
use std::path::Path;

use fs2::FileExt;

use super::StorageError;

/// Holds an `fs2` lock on a file until dropped.
pub(crate) struct Locked<'a>(&'a File);

impl<'a> Locked<'a> {
    /// Waits for the exclusive lock (writers, and the startup repair).
    pub(crate) fn exclusive(file: &'a File, path: &Path) -> Result<Self, StorageError> {
        file.lock_exclusive()
            .map_err(StorageError::io("lock", path))?;
        Ok(Locked(file))
    }

    /// Waits for the shared lock (readers).
    pub(crate) fn shared(file: &'a File, path: &Path) -> Result<Self, StorageError> {
        file.lock_shared().map_err(StorageError::io("lock", path))?;
        Ok(Locked(file))
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Closing the descriptor would release it too; failing to unlock is not actionable.
        let _ = FileExt::unlock(self.0);
    }
}
