//! The one place that knows how two 4-bit indices share a byte.
//!
//! bitsandbytes puts element `2j` in the **high** nibble and element `2j+1` in the **low** nibble
//! of byte `j` (golden/bnb4bit/README.md §4.7). An odd element count is padded with the code for a
//! scaled 0 in the last low nibble.

/// Packs the indices of elements `2j` and `2j+1` into byte `j`.
#[inline(always)]
pub fn pack(first: u8, second: u8) -> u8 {
    (first << 4) | (second & 0x0f)
}

/// The indices of elements `2j` and `2j+1` from byte `j`.
#[inline(always)]
pub fn unpack(byte: u8) -> (u8, u8) {
    (byte >> 4, byte & 0x0f)
}

/// Number of bytes that hold `numel` 4-bit values.
#[inline]
pub fn packed_len(numel: usize) -> usize {
    numel.div_ceil(2)
}
