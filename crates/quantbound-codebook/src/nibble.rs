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

/// AVX-512 forms of [`pack`] and [`unpack`], for the kernels in `avx512.rs`.
#[cfg(target_arch = "x86_64")]
mod lanes {
    use std::arch::x86_64::*;

    /// 16 indices in u32 lanes → in the low byte of each u64 lane, `lane[2j] << 4 | lane[2j+1]`
    /// (the first element of the pair sits in the low half of the u64, so it goes high).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn pack_u64_lanes(index: __m512i) -> __m512i {
        _mm512_or_si512(_mm512_slli_epi64::<4>(index), _mm512_srli_epi64::<32>(index))
    }

    /// 8 packed bytes (the low half of `packed`) → 16 u32 lanes whose low 4 bits are the indices of
    /// elements 0..16 in order: lane 2j holds byte j's high nibble, lane 2j+1 its low nibble (plus
    /// the high nibble in bits 4..8, which a 16-entry permute ignores).
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(crate) fn unpack_16_lanes(packed: __m128i) -> __m512i {
        let bytes = _mm_cvtepu8_epi16(packed);
        let pairs = _mm_or_si128(_mm_srli_epi16::<4>(bytes), _mm_slli_epi16::<8>(bytes));
        _mm512_cvtepu8_epi32(pairs)
    }
}
#[cfg(target_arch = "x86_64")]
pub(crate) use lanes::{pack_u64_lanes, unpack_16_lanes};
