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

/// The other order, most formats' outside bnb (NVIDIA's NVFP4 and the OCP MX formats as PyTorch
/// packs them): element `2j` in the **low** nibble of byte `j`, element `2j+1` in the high one.
#[inline(always)]
pub fn pack_low_first(first: u8, second: u8) -> u8 {
    (second << 4) | (first & 0x0f)
}

/// The indices of elements `2j` and `2j+1` from byte `j` packed by [`pack_low_first`].
#[inline(always)]
pub fn unpack_low_first(byte: u8) -> (u8, u8) {
    (byte & 0x0f, byte >> 4)
}

/// Right shifts that take elements `8w .. 8w + 8`, in order, out of word `w` when the packed
/// bytes are read as little-endian u32 words (byte 0 in the low 8 bits): each byte holds its first
/// element in the high nibble. For backends that unpack with tensor ops.
pub const WORD_SHIFTS: [i32; 8] = [4, 0, 12, 8, 20, 16, 28, 24];

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

    /// 16 bytes in u32 lanes → (high nibbles, low nibbles), each index in the lane's low 4 bits
    /// (the low-nibble vector keeps the high nibble above them, which a 16-entry permute ignores).
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn split_lanes(bytes: __m512i) -> (__m512i, __m512i) {
        (_mm512_srli_epi32::<4>(bytes), bytes)
    }

    /// `permutex2var` indices that interleave (high, low) lookups of bytes 0..16 into element
    /// order: elements 0..16 (bytes 0..8), then elements 16..32 (bytes 8..16). Byte j's high
    /// nibble is element 2j, so it comes first.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(crate) fn interleave_indices() -> [__m512i; 2] {
        let first: [i32; 16] = std::array::from_fn(|i| (i / 2) as i32 + if i % 2 == 0 { 0 } else { 16 });
        let second: [i32; 16] = std::array::from_fn(|i| 8 + (i / 2) as i32 + if i % 2 == 0 { 0 } else { 16 });
        // SAFETY: both arrays have 16 i32.
        unsafe { [_mm512_loadu_si512(first.as_ptr().cast()), _mm512_loadu_si512(second.as_ptr().cast())] }
    }

    /// 16 packed bytes → 32 u16 lanes holding the indices of elements 0..32 in order.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    pub(crate) fn unpack_32_lanes_u16(packed: __m128i) -> __m512i {
        let bytes = _mm256_cvtepu8_epi16(packed);
        let pairs = _mm256_or_si256(_mm256_srli_epi16::<4>(bytes), _mm256_slli_epi16::<8>(bytes));
        _mm512_and_si512(_mm512_cvtepu8_epi16(pairs), _mm512_set1_epi16(0x0f))
    }
}
#[cfg(target_arch = "x86_64")]
pub(crate) use lanes::{interleave_indices, pack_u64_lanes, split_lanes, unpack_32_lanes_u16};

/// AVX2 / SSSE3 forms of [`pack`] and [`unpack`], for the kernels in `avx2.rs`.
#[cfg(target_arch = "x86_64")]
mod lanes_avx2 {
    use std::arch::x86_64::*;

    /// 8 indices in u32 lanes → the 4 bytes `lane[2j] << 4 | lane[2j+1]`, byte j at bits 8j.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn pack_u64_lanes_avx2(index: __m256i) -> u32 {
        // In each u64 lane the first element of the pair is the low half, so it goes high.
        let pairs = _mm256_or_si256(_mm256_slli_epi64::<4>(index), _mm256_srli_epi64::<32>(index));
        // Byte 0 of each u64 lane: bytes 0 and 8 of each 128-bit half.
        #[rustfmt::skip]
        let picked = _mm256_shuffle_epi8(pairs, _mm256_setr_epi8(
            0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
            0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        ));
        let low = _mm256_extract_epi16::<0>(picked) as u32 & 0xffff;
        let high = _mm256_extract_epi16::<8>(picked) as u32 & 0xffff;
        low | high << 16
    }

    /// 16 packed bytes → the indices of elements 0..16 and 16..32, one per byte, in order: byte
    /// j's high nibble is element 2j, so it comes first.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(crate) fn unpack_16_bytes_sse(packed: __m128i) -> [__m128i; 2] {
        let mask = _mm_set1_epi8(0x0f);
        let first = _mm_and_si128(_mm_srli_epi16::<4>(packed), mask);
        let second = _mm_and_si128(packed, mask);
        [_mm_unpacklo_epi8(first, second), _mm_unpackhi_epi8(first, second)]
    }
}
#[cfg(target_arch = "x86_64")]
pub(crate) use lanes_avx2::{pack_u64_lanes_avx2, unpack_16_bytes_sse};

#[cfg(test)]
mod tests {
    /// [`super::WORD_SHIFTS`] reads the elements of a little-endian word in the order [`super::unpack`] gives them.
    #[test]
    fn word_shifts_follow_unpack() {
        let bytes = [0x12u8, 0x34, 0x56, 0x78];
        let word = u32::from_le_bytes(bytes);
        let from_word: Vec<u8> = super::WORD_SHIFTS.iter().map(|&s| ((word >> s) & 0xf) as u8).collect();
        let from_bytes: Vec<u8> = bytes.iter().flat_map(|&b| <[u8; 2]>::from(super::unpack(b))).collect();
        assert_eq!(from_word, from_bytes);
    }
}
