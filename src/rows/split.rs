//! Splitting one row: where its fields lie in a buffer ([`Row`]), sixteen bytes classified at
//! once, and the state machine for rows with quotes.

use super::MAX_FIELDS;
#[cfg(any(test, not(target_feature = "sse2")))]
use crate::domain::words;

/// Where one row's fields lie in a buffer.
pub struct Row {
    /// `(start, end)` of the first [`MAX_FIELDS`] fields, quotes included.
    pub(super) fields: [(usize, usize); MAX_FIELDS],
    /// How many fields the row has.
    pub count: usize,
    /// Index just past the row's `\n`.
    pub end: usize,
    /// Whether any field is quoted.
    pub quoted: bool,
}

impl Row {
    /// A row of no fields, to be filled by [`split`](Self::split).
    pub fn empty() -> Row {
        Row {
            fields: [(0, 0); MAX_FIELDS],
            count: 0,
            end: 0,
            quoted: false,
        }
    }

    /// Field `index` (quotes included) as it lies in `buf`; empty past the last field.
    pub fn field<'a>(&self, buf: &'a [u8], index: usize) -> &'a [u8] {
        match self.fields.get(index) {
            Some(&(start, end)) if index < self.count => &buf[start..end],
            _ => &[],
        }
    }

    /// Records the field `[start, end)`; fields past the sixth are only counted.
    fn close(&mut self, start: usize, end: usize) {
        if self.count < MAX_FIELDS {
            self.fields[self.count] = (start, end);
        }
        self.count += 1;
    }

    /// Splits the row that starts at `start` into `self`, reused rather than returned so a
    /// reader moves no row around; `false` (and `self` meaningless) when `buf` ends before the
    /// row does.
    pub fn split(&mut self, buf: &[u8], start: usize) -> bool {
        self.count = 0;
        self.quoted = false;
        let mut field_start = start;
        let mut block_start = start;
        // Fast path: no quote before the end of the line. Every separator of a block comes
        // from its masks, rather than from a new search started at each field.
        loop {
            let rest = buf.get(block_start..).unwrap_or_default();
            let (marks, width) = match rest.first_chunk() {
                Some(block) => (Marks::of_block(block), BLOCK),
                None => (Marks::of_tail(rest), rest.len()),
            };
            // The bits up to the row's line end, if it is in this block.
            let in_row = match marks.ends & marks.ends.wrapping_neg() {
                0 => u32::MAX,
                end => end | (end - 1),
            };
            if marks.quotes & in_row != 0 {
                return self.split_quoted(buf, start);
            }
            let mut commas = marks.commas & in_row;
            while commas != 0 {
                let at = block_start + commas.trailing_zeros() as usize;
                commas &= commas - 1;
                self.close(field_start, at);
                field_start = at + 1;
            }
            if in_row != u32::MAX {
                let at = block_start + in_row.count_ones() as usize - 1;
                self.close(field_start, at);
                self.end = at + 1;
                return true;
            }
            if width < BLOCK {
                return false;
            }
            block_start += BLOCK;
        }
    }

    /// The general case: quoted fields may hold commas, doubled quotes and line breaks.
    fn split_quoted(&mut self, buf: &[u8], start: usize) -> bool {
        self.count = 0;
        self.quoted = true;
        let mut field_start = start;
        let mut in_quotes = false;
        let mut i = start;
        while i < buf.len() {
            let byte = buf[i];
            if in_quotes {
                if byte == b'"' {
                    // A quote inside quotes is either doubled (a literal quote) or the closing
                    // one; telling which needs the next byte.
                    let Some(&next) = buf.get(i + 1) else {
                        return false;
                    };
                    if next == b'"' {
                        i += 2;
                        continue;
                    }
                    in_quotes = false;
                }
                i += 1;
                continue;
            }
            match byte {
                b'"' if i == field_start => in_quotes = true,
                b',' | b'\n' => {
                    self.close(field_start, i);
                    field_start = i + 1;
                    if byte == b'\n' {
                        self.end = i + 1;
                        return true;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        false
    }
}

/// Splits the row that starts at `start`; `None` when `buf` ends before the row does.
pub fn split_row(buf: &[u8], start: usize) -> Option<Row> {
    let mut row = Row::empty();
    row.split(buf, start).then_some(row)
}

/// The bytes [`Marks::of_block`] classifies at once.
pub(super) const BLOCK: usize = 16;

/// Where the separators of up to [`BLOCK`] bytes are: bit `k` set when byte `k` is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Marks {
    pub(super) commas: u32,
    pub(super) ends: u32,
    pub(super) quotes: u32,
}

impl Marks {
    /// The marks `mask` gives for each separator.
    pub(super) fn from_fn(mask: impl Fn(u8) -> u32) -> Marks {
        Marks {
            commas: mask(b','),
            ends: mask(b'\n'),
            quotes: mask(b'"'),
        }
    }

    /// The marks of a whole block. SSE2 (every x86_64 has it) compares its sixteen bytes at
    /// once, and a row takes every separator of a block from these masks: measured against the
    /// word-at-a-time search from each field's start it replaced, and `memchr3`, in `split_rows`
    /// of benches/hot_paths.rs (`memchr` is built for rare matches; a row has one every dozen
    /// bytes). `safe_arch` wraps the instructions in safe functions, so no `unsafe` is ours.
    #[cfg(target_feature = "sse2")]
    pub(super) fn of_block(block: &[u8; BLOCK]) -> Marks {
        use safe_arch::{cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i};
        let bytes = load_unaligned_m128i(block);
        let mask = |b: u8| {
            let equal = cmp_eq_mask_i8_m128i(bytes, safe_arch::set_splat_i8_m128i(b as i8));
            // Sixteen mask bits, the rest zero.
            move_mask_i8_m128i(equal) as u32
        };
        Marks::from_fn(mask)
    }

    #[cfg(not(target_feature = "sse2"))]
    pub(super) fn of_block(block: &[u8; BLOCK]) -> Marks {
        Marks::portable(block)
    }

    /// [`of_block`](Self::of_block) without SSE2: eight bytes per word, exactly (no byte
    /// flagged that is not one).
    #[cfg(any(test, not(target_feature = "sse2")))]
    pub(super) fn portable(block: &[u8; BLOCK]) -> Marks {
        let (low, high) = block.split_at(BLOCK / 2);
        let (low, high) = (words::load(low), words::load(high));
        let mask = |b: u8| words::bits_equal_to(low, b) | words::bits_equal_to(high, b) << 8;
        Marks::from_fn(mask)
    }

    /// The marks of the fewer than [`BLOCK`] bytes at the end of a buffer.
    pub(super) fn of_tail(tail: &[u8]) -> Marks {
        let mask = |sep: u8| {
            tail.iter()
                .enumerate()
                .filter(|&(_, &b)| b == sep)
                .fold(0, |found, (k, _)| found | 1 << k)
        };
        Marks::from_fn(mask)
    }
}
