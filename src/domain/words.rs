//! Word-at-a-time byte tests: eight bytes per step, for the short fields every bet has. The one
//! copy of these primitives, under the name check here and under `rows`' splitter; a byte loop
//! in their place was a quarter of the instructions a bet costs end to end.

/// `0x01` in every byte of a word.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);
/// `0x80` in every byte of a word.
pub(crate) const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The eight bytes of `chunk` (exactly eight) as one little-endian word.
#[inline]
pub(crate) fn load(chunk: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    u64::from_le_bytes(word)
}

/// The high bit of the first byte of `word` equal to `byte` is the lowest set bit of the result
/// (bits above it may be set spuriously by the borrow; none below it is). Zero when no byte is.
#[inline]
pub(crate) fn equal_bytes(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Bit `k` set when byte `k` of `word` is `byte`, exactly (unlike [`equal_bytes`], no byte above
/// a match is flagged): for splitters that take every separator of a word at once.
#[cfg_attr(target_feature = "sse2", allow(dead_code))]
pub(crate) fn bits_equal_to(word: u64, byte: u8) -> u32 {
    const LOW_SEVEN: u64 = !HIGHS;
    let x = word ^ (ONES * u64::from(byte));
    // The high bit of each zero byte of `x`, and only of those: no carry crosses a byte.
    let zero_bytes = !(((x & LOW_SEVEN).wrapping_add(LOW_SEVEN)) | x) & HIGHS;
    // Byte k's high bit, at 8k + 7, lands on bit 56 + k of the product; no two terms meet.
    let gathered = (zero_bytes >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
    gathered as u32
}
