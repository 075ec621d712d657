//! The server's allocator: the system's, except that one freed block of ipc-channel's receive
//! size is kept for the next receive instead of returned.
//!
//! ipc-channel receives every message into a fresh buffer of its largest first fragment (about
//! 200 KiB), freed once the message is decoded: the coordinator does so for every request of
//! every agency, a session for every reply. glibc's malloc either maps and unmaps such a block
//! each time (an `mmap`, its page faults and a `munmap`: a third of the coordinator's CPU at
//! 10,000 agencies), or, once its mmap threshold has risen past that size, carves it from the
//! heap, where the small allocations made between receives split the freed block and the heap
//! grows with every agency served. A kept block does neither: it is the same memory every time,
//! and only the pages a message fills are ever touched.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Blocks up to this alignment come from `malloc`, which aligns every block to 16 bytes, so a
/// kept block serves any of them.
const MALLOC_ALIGN: usize = 16;

/// The system allocator, keeping one freed block of the size set by [`keep`](Self::keep).
pub struct ReceiveBuffers {
    /// The size kept; 0 keeps nothing.
    size: AtomicUsize,
    /// The block kept, or null.
    kept: AtomicPtr<u8>,
}

impl ReceiveBuffers {
    /// The system allocator alone, until [`keep`](Self::keep) is called.
    pub const fn new() -> ReceiveBuffers {
        ReceiveBuffers {
            size: AtomicUsize::new(0),
            kept: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// From now on, keep one freed block of `size` bytes for the next allocation of that size.
    /// Called before any fork, so every child starts with the same rule (and the block, if one
    /// is kept by then).
    pub fn keep(&self, size: usize) {
        self.size.store(size, Ordering::Relaxed);
    }

    /// The size ipc-channel receives into on this machine (it asks the kernel once per process).
    pub fn ipc_receive_size() -> usize {
        ipc_channel::platform::OsIpcSender::get_max_fragment_size()
    }

    /// Whether blocks of `layout` are the ones kept.
    fn kept_for(&self, layout: Layout) -> bool {
        let size = self.size.load(Ordering::Relaxed);
        size != 0 && layout.size() == size && layout.align() <= MALLOC_ALIGN
    }
}

impl Default for ReceiveBuffers {
    fn default() -> Self {
        ReceiveBuffers::new()
    }
}

// SAFETY: every block handed out is either fresh from `System` for this layout, or a block that
// `System` allocated for a layout of the same size with an alignment of at most 16 (which malloc
// gives every block), taken out of the slot by an atomic swap so no two callers get it. A block
// given back is kept only if the slot is empty (compare-exchange), else returned to `System`
// with the layout it was allocated with.
unsafe impl GlobalAlloc for ReceiveBuffers {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.kept_for(layout) {
            let block = self.kept.swap(ptr::null_mut(), Ordering::Acquire);
            if !block.is_null() {
                return block;
            }
        }
        // SAFETY: the caller upholds `alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if self.kept_for(layout)
            && self
                .kept
                .compare_exchange(ptr::null_mut(), block, Ordering::Release, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        // SAFETY: `block` came from `System` with `layout` (or one of the same size and a
        // malloc-sized alignment, which `System` frees alike).
        unsafe { System.dealloc(block, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if self.kept_for(layout) {
            // SAFETY: as `alloc`; a kept block holds old bytes, so it is zeroed here.
            let block = unsafe { self.alloc(layout) };
            if !block.is_null() {
                // SAFETY: `block` is valid for `layout.size()` bytes.
                unsafe { ptr::write_bytes(block, 0, layout.size()) };
            }
            return block;
        }
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        if !self.kept_for(layout) && !self.kept_for(new_layout) {
            // SAFETY: the caller upholds `realloc`'s contract, which is `System`'s.
            return unsafe { System.realloc(block, layout, new_size) };
        }
        // Into or out of the kept size: a new block, the bytes copied, the old one given back,
        // so a kept block is never resized behind the slot's back.
        // SAFETY: `new_layout` has a non-zero size (the caller's contract) and a valid alignment.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are valid for the bytes copied and distinct (`moved` is fresh
            // or was the kept block, which no live allocation uses); `block` is the caller's,
            // allocated here with `layout`.
            unsafe {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                self.dealloc(block, layout);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: usize = 212_960;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 1).unwrap()
    }

    #[test]
    fn a_freed_block_of_the_kept_size_is_the_next_one_handed_out() {
        let buffers = ReceiveBuffers::new();
        buffers.keep(SIZE);
        // SAFETY: every block is used within its layout and given back with it.
        unsafe {
            let first = buffers.alloc(layout(SIZE));
            first.write(7);
            buffers.dealloc(first, layout(SIZE));
            let second = buffers.alloc(layout(SIZE));
            assert_eq!(second, first);
            // While it is out, the next one is a different block.
            let third = buffers.alloc(layout(SIZE));
            assert_ne!(third, second);
            buffers.dealloc(second, layout(SIZE));
            // The slot is full: this one goes back to the system.
            buffers.dealloc(third, layout(SIZE));
            let zeroed = buffers.alloc_zeroed(layout(SIZE));
            assert_eq!(zeroed, first);
            assert!(std::slice::from_raw_parts(zeroed, SIZE)
                .iter()
                .all(|&b| b == 0));
            buffers.dealloc(zeroed, layout(SIZE));
        }
    }

    #[test]
    fn other_sizes_and_alignments_pass_through_and_nothing_is_kept_before_keep() {
        let buffers = ReceiveBuffers::new();
        // SAFETY: every block is given back with the layout it was allocated with.
        unsafe {
            let block = buffers.alloc(layout(SIZE));
            buffers.dealloc(block, layout(SIZE));
            assert!(buffers.kept.load(Ordering::Relaxed).is_null());
            buffers.keep(SIZE);
            let other = buffers.alloc(layout(SIZE - 1));
            buffers.dealloc(other, layout(SIZE - 1));
            let aligned = Layout::from_size_align(SIZE, 4096).unwrap();
            let page = buffers.alloc(aligned);
            assert_eq!(page as usize % 4096, 0);
            buffers.dealloc(page, aligned);
            assert!(buffers.kept.load(Ordering::Relaxed).is_null());
        }
    }

    #[test]
    fn a_reallocation_into_or_out_of_the_kept_size_keeps_its_bytes() {
        let buffers = ReceiveBuffers::new();
        buffers.keep(SIZE);
        // SAFETY: every block is used within its layout; each realloc takes the current one.
        unsafe {
            let small = buffers.alloc(layout(100));
            for i in 0..100 {
                small.add(i).write(i as u8);
            }
            let grown = buffers.realloc(small, layout(100), SIZE);
            assert!((0..100).all(|i| grown.add(i).read() == i as u8));
            let shrunk = buffers.realloc(grown, layout(SIZE), 50);
            assert!((0..50).all(|i| shrunk.add(i).read() == i as u8));
            // The grown block went back to the slot when it was moved out of.
            assert_eq!(buffers.kept.load(Ordering::Relaxed), grown);
            buffers.dealloc(shrunk, layout(50));
        }
    }
}
