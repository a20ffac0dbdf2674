//! AVX-512 kernels for the two hot loops. Each has a portable twin in `quantize.rs` or
//! `dequantize.rs`; the tests run every level and compare it with the scalar reference.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use crate::codebook::Codebook;
use crate::dequantize::{Output, Store};
use crate::nibble;

/// Quantizes consecutive *full* blocks of f32 (`x.len()` a multiple of `bs`, which is a multiple
/// of 16) into `out` (`x.len()/2` bytes) and `absmax` (one per block). Same rules as the portable
/// `quantize_block`: reciprocal, then multiply; index = number of thresholds t with ¬(s ≤ t),
/// mapped through the sorted order.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VL.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(crate) unsafe fn quantize_full_blocks(
    x: &[f32],
    bs: usize,
    codebook: &Codebook,
    out: &mut [u8],
    absmax: &mut [f32],
) {
    debug_assert!(bs.is_multiple_of(16) && x.len() == bs * absmax.len() && out.len() == x.len() / 2);
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
        *absmax = if max_bits > crate::quantize::INF_BITS {
            crate::quantize::first_nan_magnitude(block)
        } else {
            f32::from_bits(max_bits)
        };
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

/// Dequantizes consecutive *full* blocks (`bs` a multiple of 32) of the output starting at block
/// `first_block`: `out[i] = round(code[index_i] · absmax(block))`. `out` holds `T` of the size
/// `kind` names (f32, or the bit patterns of f16/bf16).
///
/// Per block the 16 possible outputs are computed once (one f32 multiply each, then one rounding
/// to the output type, as bnb and torch round), and each element is a 16-entry permute.
/// (Streaming stores were tried for large outputs; they were slower on the reference machine.)
///
/// # Safety
/// The CPU must have AVX-512 F, BW, VL and F16C; `T` must be f32 for `Output::F32` and a 2-byte
/// type otherwise; with `store.stream`, `out` must be 16-byte aligned; `out.len()` must be a
/// multiple of `bs`, and `packed` must hold the blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,f16c")]
pub(crate) unsafe fn dequantize_blocks<T>(
    packed: &[u8],
    absmax: impl Fn(usize) -> f32,
    first_block: usize,
    bs: usize,
    values: &[f32; 16],
    store: Store,
    out: &mut [T],
) {
    let Store { kind, stream } = store;
    debug_assert!(bs.is_multiple_of(32) && out.len().is_multiple_of(bs));
    debug_assert_eq!(size_of::<T>(), if kind == Output::F32 { 4 } else { 2 });
    debug_assert!(!stream || (out.as_ptr() as usize).is_multiple_of(16), "non-temporal stores need 16-byte alignment");
    // SAFETY: `values` has 16 f32.
    let code = unsafe { _mm512_loadu_ps(values.as_ptr()) };
    let n_blocks = out.len() / bs;
    let out = out.as_mut_ptr();
    for k in 0..n_blocks {
        let block = first_block + k;
        let bytes = &packed[block * bs / 2..(block + 1) * bs / 2];
        let table = _mm512_mul_ps(code, _mm512_set1_ps(absmax(block)));
        match kind {
            Output::F32 => {
                // SAFETY: block k of `out` is `bs` f32 long.
                let out = unsafe { std::slice::from_raw_parts_mut(out.cast::<f32>().add(k * bs), bs) };
                lookup_f32(bytes, table, stream, out);
            }
            Output::F16 | Output::Bf16 => {
                let table = if kind == Output::F16 {
                    _mm512_castsi256_si512(_mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(table))
                } else {
                    _mm512_castsi256_si512(round_to_bf16(table))
                };
                // SAFETY: block k of `out` is `bs` 2-byte values long.
                let out = unsafe { std::slice::from_raw_parts_mut(out.cast::<u16>().add(k * bs), bs) };
                lookup_u16(bytes, table, out);
            }
        }
    }
    if stream {
        // Non-temporal stores are weakly ordered: make them visible before the caller reads.
        _mm_sfence();
    }
}

/// 16 f32 to `out` (16-byte aligned) with four non-temporal 16-byte stores.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn stream_16(out: *mut f32, v: __m512) {
    // SAFETY: the caller's `out` holds 16 f32 and is 16-byte aligned.
    unsafe {
        _mm_stream_ps(out, _mm512_extractf32x4_ps::<0>(v));
        _mm_stream_ps(out.add(4), _mm512_extractf32x4_ps::<1>(v));
        _mm_stream_ps(out.add(8), _mm512_extractf32x4_ps::<2>(v));
        _mm_stream_ps(out.add(12), _mm512_extractf32x4_ps::<3>(v));
    }
}

/// f32 lanes → bf16 bit patterns with round-to-nearest-even and NaN → 0x7FC0 (torch's rounding).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn round_to_bf16(v: __m512) -> __m256i {
    let bits = _mm512_castps_si512(v);
    let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
    let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(bits, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))));
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
    _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, _mm512_set1_epi32(0x7fc0)))
}

/// One block of f32, 32 outputs per step: the high and the low nibbles of 16 bytes are looked up
/// separately, then interleaved into element order.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn lookup_f32(bytes: &[u8], table: __m512, stream: bool, out: &mut [f32]) {
    let [first_half, second_half] = nibble::interleave_indices();
    for (bytes, out) in bytes.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
        // SAFETY: `bytes` has 16 bytes.
        let bytes = _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) });
        let (high, low) = nibble::split_lanes(bytes);
        let high = _mm512_permutexvar_ps(high, table);
        let low = _mm512_permutexvar_ps(low, table);
        let (first, second) =
            (_mm512_permutex2var_ps(high, first_half, low), _mm512_permutex2var_ps(high, second_half, low));
        // SAFETY: `out` has 32 f32, and is 16-byte aligned when `stream` is set.
        unsafe {
            if stream {
                stream_16(out.as_mut_ptr(), first);
                stream_16(out.as_mut_ptr().add(16), second);
            } else {
                _mm512_storeu_ps(out.as_mut_ptr(), first);
                _mm512_storeu_ps(out.as_mut_ptr().add(16), second);
            }
        }
    }
}

/// One block of 16-bit outputs, 32 per step; `table` holds the 16 values in its low 256 bits.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
fn lookup_u16(bytes: &[u8], table: __m512i, out: &mut [u16]) {
    for (bytes, out) in bytes.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
        // SAFETY: `bytes` has 16 bytes.
        let packed = unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) };
        let values = _mm512_permutexvar_epi16(nibble::unpack_32_lanes_u16(packed), table);
        // SAFETY: `out` has 32 u16.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), values) };
    }
}
