//! AVX2 + FMA kernels (x86-64-v3) for the two hot loops, the twins of `avx512.rs` for the
//! machines without AVX-512. Each has a portable twin in `quantize.rs` or `dequantize.rs`; the
//! tests run every level and compare it with the scalar reference bit for bit.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use crate::codebook::Codebook;
use crate::dequantize::{Output, Store};
use crate::nibble;

/// Quantizes consecutive *full* blocks of f32 (`x.len()` a multiple of `bs`, which is a multiple
/// of 16) into `out` (`x.len()/2` bytes) and `absmax` (one per block), by the rules of the
/// portable `quantize_block`: reciprocal, then multiply; index = number of thresholds t with
/// ¬(s ≤ t), mapped through the sorted order.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn quantize_full_blocks(
    x: &[f32],
    bs: usize,
    codebook: &Codebook,
    out: &mut [u8],
    absmax: &mut [f32],
) {
    debug_assert!(bs.is_multiple_of(16) && x.len() == bs * absmax.len() && out.len() == x.len() / 2);
    let mut thresholds = [_mm256_setzero_ps(); 15];
    for (v, &t) in thresholds.iter_mut().zip(codebook.thresholds()) {
        *v = _mm256_set1_ps(t);
    }
    let sorted: [i32; 16] = std::array::from_fn(|i| i32::from(codebook.sorted_indices()[i]));
    // SAFETY: `sorted` has 16 i32.
    let (sorted_low, sorted_high) =
        unsafe { (_mm256_loadu_si256(sorted.as_ptr().cast()), _mm256_loadu_si256(sorted.as_ptr().add(8).cast())) };
    let monotonic = codebook.is_monotonic();
    let abs_mask = _mm256_set1_epi32(0x7fff_ffff);

    for ((block, out), absmax) in x.chunks_exact(bs).zip(out.chunks_exact_mut(bs / 2)).zip(absmax) {
        let mut max = _mm256_setzero_si256();
        for chunk in block.chunks_exact(8) {
            // SAFETY: `chunk` has 8 f32.
            let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
            max = _mm256_max_epu32(max, _mm256_and_si256(v, abs_mask));
        }
        // Bit patterns of |x|: integer order is float order and NaN sorts above +inf, as in torch.
        let mut lanes = [0u32; 8];
        // SAFETY: `lanes` has 8 u32.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), max) };
        let max_bits = lanes.into_iter().max().unwrap_or(0);
        *absmax = if max_bits > crate::quantize::INF_BITS {
            crate::quantize::first_nan_magnitude(block)
        } else {
            f32::from_bits(max_bits)
        };
        let clamped = f32::from_bits(max_bits.max(crate::quantize::MIN_ABSMAX.to_bits()));
        let r = _mm256_set1_ps(1.0 / clamped);
        for (chunk, out) in block.chunks_exact(8).zip(out.chunks_exact_mut(4)) {
            // SAFETY: `chunk` has 8 f32.
            let s = _mm256_mul_ps(unsafe { _mm256_loadu_ps(chunk.as_ptr()) }, r);
            let mut bucket = _mm256_setzero_si256();
            for t in &thresholds {
                // All ones (−1) where ¬(s ≤ t), NaN included.
                let above = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_NLE_UQ>(s, *t));
                bucket = _mm256_sub_epi32(bucket, above);
            }
            let index = if monotonic {
                bucket
            } else {
                // A 16-entry lookup: two 8-entry permutes, chosen by bit 3 of the bucket.
                let low = _mm256_permutevar8x32_epi32(sorted_low, bucket);
                let high = _mm256_permutevar8x32_epi32(sorted_high, bucket);
                let upper = _mm256_castsi256_ps(_mm256_slli_epi32::<28>(bucket));
                _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(low), _mm256_castsi256_ps(high), upper))
            };
            let bytes = nibble::pack_u64_lanes_avx2(index);
            out.copy_from_slice(&bytes.to_le_bytes());
        }
    }
}

/// Dequantizes consecutive *full* blocks (`bs` a multiple of 32) of the output starting at block
/// `first_block`: `out[i] = round(code[index_i] · absmax(block))`. `out` holds `T` of the size
/// `kind` names (f32, or the bit patterns of f16/bf16).
///
/// Per block the 16 possible outputs are computed once (`table`, rounded as the portable path
/// rounds them), and each element is a 16-entry lookup: two 8-lane permutes and a blend for f32,
/// byte shuffles of the low and high bytes for 16-bit outputs.
///
/// # Safety
/// The CPU must have AVX2; `T` must be f32 where `store.kind` is `Output::F32`, else a 2-byte type;
/// with `store.stream`, `out` must be 16-byte aligned;
/// `out.len()` must be a multiple of `bs`, and `packed` must hold the blocks.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn dequantize_blocks<T: Copy>(
    packed: &[u8],
    table: impl Fn(usize) -> [T; 16],
    first_block: usize,
    bs: usize,
    store: Store,
    out: &mut [T],
) {
    let Store { kind, stream } = store;
    debug_assert!(bs.is_multiple_of(32) && out.len().is_multiple_of(bs));
    debug_assert_eq!(size_of::<T>(), if kind == Output::F32 { 4 } else { 2 });
    debug_assert!(!stream || (out.as_ptr() as usize).is_multiple_of(16), "non-temporal stores need 16-byte alignment");
    for (k, out) in out.chunks_exact_mut(bs).enumerate() {
        let block = first_block + k;
        let bytes = &packed[block * bs / 2..(block + 1) * bs / 2];
        let table = table(block);
        let out = out.as_mut_ptr();
        match kind {
            Output::F32 => {
                // SAFETY: the table holds 16 f32 and block k of `out` is `bs` f32 long.
                unsafe {
                    let table = table.as_ptr().cast::<f32>();
                    let low = _mm256_loadu_ps(table);
                    let high = _mm256_loadu_ps(table.add(8));
                    lookup_f32(bytes, low, high, stream, std::slice::from_raw_parts_mut(out.cast::<f32>(), bs));
                }
            }
            Output::F16 | Output::Bf16 => {
                // SAFETY: the table holds 16 u16 and block k of `out` is `bs` u16 long.
                unsafe {
                    let table: [u16; 16] = std::ptr::read_unaligned(table.as_ptr().cast());
                    let low_bytes: [u8; 16] = std::array::from_fn(|i| table[i] as u8);
                    let high_bytes: [u8; 16] = std::array::from_fn(|i| (table[i] >> 8) as u8);
                    let low = _mm_loadu_si128(low_bytes.as_ptr().cast());
                    let high = _mm_loadu_si128(high_bytes.as_ptr().cast());
                    lookup_u16(bytes, low, high, std::slice::from_raw_parts_mut(out.cast::<u16>(), bs));
                }
            }
        }
    }
    if stream {
        // Non-temporal stores are weakly ordered: make them visible before the caller reads.
        _mm_sfence();
    }
}

/// One block of f32, 32 outputs per 16 bytes: indices in element order (see
/// [`nibble::unpack_16_bytes_sse`]), widened 8 at a time, then looked up in the two halves of the
/// table.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn lookup_f32(bytes: &[u8], low: __m256, high: __m256, stream: bool, out: &mut [f32]) {
    for (bytes, out) in bytes.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
        // SAFETY: `bytes` has 16 bytes.
        let packed = unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) };
        let [first, second] = nibble::unpack_16_bytes_sse(packed);
        for (i, indices) in
            [first, _mm_srli_si128::<8>(first), second, _mm_srli_si128::<8>(second)].into_iter().enumerate()
        {
            let index = _mm256_cvtepu8_epi32(indices);
            let from_low = _mm256_permutevar8x32_ps(low, index);
            let from_high = _mm256_permutevar8x32_ps(high, index);
            let upper = _mm256_castsi256_ps(_mm256_slli_epi32::<28>(index));
            let values = _mm256_blendv_ps(from_low, from_high, upper);
            // SAFETY: `out` has 32 f32, and is 16-byte aligned when `stream` is set.
            unsafe {
                let at = out.as_mut_ptr().add(8 * i);
                if stream {
                    _mm_stream_ps(at, _mm256_castps256_ps128(values));
                    _mm_stream_ps(at.add(4), _mm256_extractf128_ps::<1>(values));
                } else {
                    _mm256_storeu_ps(at, values);
                }
            }
        }
    }
}

/// One block of 16-bit outputs, 32 per 16 bytes: the low and the high bytes of the 16 table
/// entries are each one byte shuffle, then interleaved into u16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn lookup_u16(bytes: &[u8], low: __m128i, high: __m128i, out: &mut [u16]) {
    for (bytes, out) in bytes.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
        // SAFETY: `bytes` has 16 bytes.
        let packed = unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) };
        for (i, indices) in nibble::unpack_16_bytes_sse(packed).into_iter().enumerate() {
            let (l, h) = (_mm_shuffle_epi8(low, indices), _mm_shuffle_epi8(high, indices));
            // SAFETY: `out` has 32 u16.
            unsafe {
                _mm_storeu_si128(out.as_mut_ptr().add(16 * i).cast(), _mm_unpacklo_epi8(l, h));
                _mm_storeu_si128(out.as_mut_ptr().add(16 * i + 8).cast(), _mm_unpackhi_epi8(l, h));
            }
        }
    }
}
