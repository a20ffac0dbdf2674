//! AVX-512 kernels for the two hot loops. Each has a portable twin in `quantize.rs` or
//! `dequantize.rs`; the tests run both (see `simd::force_portable`) and compare them with the
//! scalar reference.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use crate::codebook::Codebook;
use crate::nibble;

/// Quantizes consecutive *full* blocks of f32 (`x.len()` a multiple of `bs`, which is a multiple
/// of 16) into `out` (`x.len()/2` bytes) and `absmax` (one per block). Same rules as the portable
/// `quantize_block`: reciprocal, then multiply; index = number of thresholds t with ¬(s ≤ t),
/// mapped through the sorted order.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VL.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn quantize_full_blocks(x: &[f32], bs: usize, codebook: &Codebook, out: &mut [u8], absmax: &mut [f32]) {
    debug_assert!(bs % 16 == 0 && x.len() == bs * absmax.len() && out.len() == x.len() / 2);
    let mut thresholds = [_mm512_setzero_ps(); 15];
    for (v, &t) in thresholds.iter_mut().zip(codebook.thresholds()) {
        *v = _mm512_set1_ps(t);
    }
    let mut sorted = [0i32; 16];
    for (s, &i) in sorted.iter_mut().zip(codebook.sorted_indices()) {
        *s = i32::from(i);
    }
    // SAFETY: `sorted` has 16 i32.
    let sorted = unsafe { _mm512_loadu_si512(sorted.as_ptr().cast()) };
    let monotonic = codebook.is_monotonic();
    let abs_mask = _mm512_set1_epi32(0x7fff_ffff);
    let one = _mm512_set1_epi32(1);

    for ((block, out), absmax) in x.chunks_exact(bs).zip(out.chunks_exact_mut(bs / 2)).zip(absmax) {
        let mut max = _mm512_setzero_si512();
        for chunk in block.chunks_exact(16) {
            // SAFETY: `chunk` has 16 f32.
            let v = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) };
            max = _mm512_max_epu32(max, _mm512_and_si512(v, abs_mask));
        }
        // Bit patterns of |x|: integer order is float order and NaN sorts above +inf, as in torch.
        let max_bits = _mm512_reduce_max_epu32(max);
        *absmax = f32::from_bits(max_bits);
        let clamped = f32::from_bits(max_bits.max(crate::quantize::MIN_ABSMAX.to_bits()));
        let r = _mm512_set1_ps(1.0 / clamped);
        for (chunk, out) in block.chunks_exact(16).zip(out.chunks_exact_mut(8)) {
            // SAFETY: `chunk` has 16 f32.
            let s = _mm512_mul_ps(unsafe { _mm512_loadu_ps(chunk.as_ptr()) }, r);
            let mut bucket = _mm512_setzero_si512();
            for t in &thresholds {
                let above = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(s, *t);
                bucket = _mm512_mask_add_epi32(bucket, above, bucket, one);
            }
            let index = if monotonic { bucket } else { _mm512_permutexvar_epi32(bucket, sorted) };
            // Lanes 2j and 2j+1 as one u64; VPMOVQB stores the low byte of each of the 8 u64 lanes.
            let bytes = nibble::pack_u64_lanes(index);
            // SAFETY: `out` has 8 bytes.
            unsafe { _mm512_mask_cvtepi64_storeu_epi8(out.as_mut_ptr().cast(), 0xff, bytes) };
        }
    }
}

/// Dequantizes one block: `out[i] = values[index_i] · scale`, for `out.len()` a multiple of 16 and
/// `bytes` holding `out.len()/2` packed bytes. (Streaming stores were tried for large outputs and
/// were slower on the reference machine.)
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VL.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn dequantize_block(bytes: &[u8], scale: f32, values: &[f32; 16], out: &mut [f32]) {
    debug_assert!(out.len() % 16 == 0 && bytes.len() == out.len() / 2);
    // code · absmax once per value and block: the same single f32 rounding as bnb.
    // SAFETY: `values` has 16 f32.
    let table = _mm512_mul_ps(unsafe { _mm512_loadu_ps(values.as_ptr()) }, _mm512_set1_ps(scale));
    for (bytes, out) in bytes.chunks_exact(8).zip(out.chunks_exact_mut(16)) {
        // SAFETY: `bytes` has 8 bytes.
        let packed = unsafe { _mm_loadl_epi64(bytes.as_ptr().cast()) };
        let values = _mm512_permutexvar_ps(nibble::unpack_16_lanes(packed), table);
        // SAFETY: `out` has 16 f32.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), values) };
    }
}
