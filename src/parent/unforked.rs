//! An allocator whose blocks a forked child does not inherit: each block is an anonymous mapping
//! of its own, marked `MADV_DONTFORK`.
//!
//! `fork` copies the page-table entry of every private page the parent has written, and the
//! child's exit takes each down again. Of the parent's memory, only its table of children grows
//! with the agencies (1 MiB at 10,000), and no child reads it: kept out of the copy, a fork costs
//! the same at the 10,000th agency as at the first. A child must never touch such a block, not
//! even to free it: it forgets the table (`spawn`'s `become_child`).

use std::alloc::Layout;
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator};
use nix::sys::mman::{madvise, mmap_anonymous, munmap, MapFlags, MmapAdvise, ProtFlags};

/// The smallest page size of the architectures tp0 runs on; a mapping is a whole number of them.
const PAGE: usize = 4096;

/// Hands out blocks that stay in the parent when it forks (see the module's text).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Unforked;

/// The length of the mapping that holds a block of `layout`.
fn mapped_len(layout: Layout) -> usize {
    layout.size().max(1).next_multiple_of(PAGE)
}

// SAFETY: every block is a fresh mapping of its own, page-aligned (so any alignment up to a page
// holds), at least `layout.size()` long, and unmapped only by `deallocate` with the same layout,
// which gives the same length. Copies of `Unforked` share nothing, so any of them may free a
// block another handed out.
unsafe impl Allocator for Unforked {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.align() > PAGE {
            return Err(AllocError);
        }
        let len = NonZeroUsize::new(mapped_len(layout)).ok_or(AllocError)?;
        let flags = MapFlags::MAP_PRIVATE | MapFlags::MAP_ANONYMOUS;
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        // SAFETY: a new private anonymous mapping at an address the kernel picks aliases nothing.
        let block = unsafe { mmap_anonymous(None, len, prot, flags) }.map_err(|_| AllocError)?;
        // SAFETY: `block` is the whole mapping just made, ours alone.
        if unsafe { madvise(block, len.get(), MmapAdvise::MADV_DONTFORK) }.is_err() {
            // SAFETY: as above; nothing refers to it yet.
            let _ = unsafe { munmap(block, len.get()) };
            return Err(AllocError);
        }
        Ok(NonNull::slice_from_raw_parts(block.cast(), len.get()))
    }

    unsafe fn deallocate(&self, block: NonNull<u8>, layout: Layout) {
        // SAFETY: the caller gives back a block `allocate` made for `layout`: the whole mapping.
        let _ = unsafe { munmap(block.cast(), mapped_len(layout)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_does_not_get_the_blocks_and_the_parent_keeps_them() {
        let mut table: hashbrown::HashMap<u32, u64, std::hash::RandomState, Unforked> =
            hashbrown::HashMap::default();
        table.extend((0..10_000).map(|i| (i, u64::from(i) * 3)));
        let address = std::ptr::from_ref(&table[&9_999]) as usize;
        // /proc/self/smaps of this process names the mapping's flags: `dc` is "do not copy".
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut lines = smaps.lines();
        let header = lines
            .by_ref()
            .find(|line| {
                let range = line.split(' ').next().unwrap_or("");
                let (from, to) = range.split_once('-').unwrap_or(("", ""));
                let parse = |hex| usize::from_str_radix(hex, 16).ok();
                matches!((parse(from), parse(to)), (Some(from), Some(to)) if (from..to).contains(&address))
            })
            .expect("the table's mapping is in smaps");
        let flags = lines
            .find(|line| line.starts_with("VmFlags:"))
            .expect("the mapping has VmFlags");
        assert!(flags.split(' ').any(|f| f == "dc"), "{header}: {flags}");
        assert_eq!(table.get(&9_999), Some(&29_997));
        table.clear();
        table.shrink_to_fit();
    }
}
