//! A page of shared memory with the bets file's commit and sync marks.

use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::mman::{mmap_anonymous, MapFlags, ProtFlags};

#[repr(C)]
struct Marks {
    committed: AtomicU64,
    synced: AtomicU64,
}

/// The commit state every process of one server shares, created before the first `fork`.
///
/// `committed` is the length of the file's whole batches (written by a writer that then returned);
/// `synced` is how much of it is known to be on disk. Both only grow, except when the startup
/// repair sets them.
pub struct CommitState {
    marks: NonNull<Marks>,
}

// SAFETY: the page is only accessed through atomics.
unsafe impl Send for CommitState {}
// SAFETY: as above.
unsafe impl Sync for CommitState {}

impl CommitState {
    /// Maps a new shared anonymous page; children forked afterwards share it.
    ///
    /// # Errors
    /// The `mmap` error.
    pub fn new() -> nix::Result<CommitState> {
        let len = NonZeroUsize::new(std::mem::size_of::<Marks>()).ok_or(nix::Error::EINVAL)?;
        // SAFETY: a fresh anonymous mapping aliases nothing; it is zero-filled, which is a valid
        // `Marks` (two zero atomics), and page-aligned, which satisfies their alignment. It is
        // never unmapped, so the pointer stays valid for the process's life.
        let ptr = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )?
        };
        Ok(CommitState { marks: ptr.cast() })
    }

    fn marks(&self) -> &Marks {
        // SAFETY: see `new`: valid, aligned, initialised and never unmapped.
        unsafe { self.marks.as_ref() }
    }

    /// Length of the file up to its last whole batch.
    pub fn committed(&self) -> u64 {
        self.marks().committed.load(Ordering::Acquire)
    }

    /// Length of the file known to be on disk.
    pub fn synced(&self) -> u64 {
        self.marks().synced.load(Ordering::Acquire)
    }

    /// Sets the committed length (only under the file's exclusive lock).
    pub fn set_committed(&self, len: u64) {
        self.marks().committed.store(len, Ordering::Release);
    }

    /// Raises the synced length to `len` if it is below.
    pub fn raise_synced(&self, len: u64) {
        self.marks().synced.fetch_max(len, Ordering::AcqRel);
    }

    /// Sets both marks (startup repair, under the exclusive lock).
    pub fn reset(&self, len: u64) {
        self.marks().committed.store(len, Ordering::Release);
        self.marks().synced.store(len, Ordering::Release);
    }
}
