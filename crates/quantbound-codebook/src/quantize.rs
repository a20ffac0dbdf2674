//! Blockwise absmax 4-bit quantization, bit-exact with bitsandbytes' `quantize_4bit`.
//!
//! On CPU, bnb 0.50.2 runs the pure-torch kernel of `backends/default/ops.py`; its rules are in
//! golden/bnb4bit/README.md §4:
//! - blocks are consecutive runs of `blocksize` elements of the flattened tensor;
//! - a full block stores `absmax = max|x|` as it is and scales by `x · (1 / max(absmax, 1e-38))`;
//! - the partial last block stores `max(max|x|, 1e-38)` and scales by a true division;
//! - the index is the number of thresholds strictly below the scaled value (ties go down, NaN up);
//! - an odd element count is padded with the index of a scaled 0.
//!
//! [`quantize_blocks`] is the fast path (rayon over groups of blocks, branch-free inner loops that
//! the compiler vectorises, AVX2 and AVX-512 intrinsics, or the portable loop compiled for the active
//! [`SimdLevel`]).
//! [`quantize_blocks_reference`] is the plain scalar transcription of the rules; tests compare them.

use rayon::prelude::*;

use crate::blocksize::Blocksize;
use crate::codebook::Codebook;
use crate::dtype::FloatSlice;
use crate::nibble;
use quantbound_simd::SimdLevel;

/// The floor bnb puts under the absmax of the tail block and under every divisor: `1e-38` as f32.
pub const MIN_ABSMAX: f32 = 1e-38;

/// The absmax bnb stores for a partial last block that holds a NaN: all ones. torch's clamp of
/// the NaN maximum to 1e-38 ORs its NaN mask into the result (docs/formats/bnb-4bit.md).
pub const NAN_TAIL_ABSMAX_BITS: u32 = 0xffff_ffff;

/// The absmax of a *full* block that holds a NaN, as torch's max reduction keeps it: the first
/// NaN of the block, sign cleared by `abs`. Every SIMD level calls this once it has seen a NaN
/// (its maximum over the bit patterns of |x| is above +inf's), so all of them agree with the
/// reference whatever NaN payloads the block holds.
#[cold]
pub(crate) fn first_nan_magnitude(block: &[f32]) -> f32 {
    let nan = block.iter().find(|v| v.is_nan()).expect("the block's maximum was a NaN");
    f32::from_bits(nan.to_bits() & 0x7fff_ffff)
}

/// Bit pattern of +inf: a maximum over the bit patterns of |x| above it is a NaN.
pub(crate) const INF_BITS: u32 = 0x7f80_0000;

/// Elements handled by one rayon task: large enough to amortise scheduling, small enough to
/// balance two to many cores.
const TASK_ELEMENTS: usize = 1 << 16;

/// Quantizes `input` into `packed` (`⌈n/2⌉` bytes) and `absmax` (`⌈n/blocksize⌉` f32). The caller
/// checks the lengths.
pub(crate) fn quantize_blocks(
    input: FloatSlice<'_>,
    blocksize: Blocksize,
    codebook: &Codebook,
    packed: &mut [u8],
    absmax: &mut [f32],
) {
    let bs = blocksize.get();
    debug_assert_eq!(packed.len(), nibble::packed_len(input.len()));
    debug_assert_eq!(absmax.len(), blocksize.n_blocks(input.len()));
    let blocks_per_task = (TASK_ELEMENTS / bs).max(1);
    // Within a task, chunks of whole blocks small enough to convert into a stack buffer.
    let blocks_per_chunk = Blocksize::MAX / bs;
    let level = quantbound_simd::active();
    packed.par_chunks_mut(blocks_per_task * bs / 2).zip(absmax.par_chunks_mut(blocks_per_task)).enumerate().for_each(
        |(task, (packed, absmax))| {
            level.vectorize(
                #[inline(always)]
                || {
                    let mut buffer = [0f32; Blocksize::MAX];
                    let chunks = packed.chunks_mut(blocks_per_chunk * bs / 2).zip(absmax.chunks_mut(blocks_per_chunk));
                    for (c, (packed, absmax)) in chunks.enumerate() {
                        let start = (task * blocks_per_task + c * blocks_per_chunk) * bs;
                        let end = (start + absmax.len() * bs).min(input.len());
                        let x: &[f32] = match input {
                            FloatSlice::F32(s) => &s[start..end],
                            _ => {
                                input.copy_to_f32(start..end, &mut buffer[..end - start]);
                                &buffer[..end - start]
                            }
                        };
                        let full = x.len() / bs;
                        let (packed_full, packed_tail) = packed.split_at_mut(full * bs / 2);
                        quantize_full_blocks(level, &x[..full * bs], bs, codebook, packed_full, &mut absmax[..full]);
                        if full < absmax.len() {
                            absmax[full] = quantize_block(&x[full * bs..], true, codebook, packed_tail);
                        }
                    }
                },
            )
        },
    );
}

/// Consecutive full blocks: the level's intrinsics kernel on x86-64, else the portable loop (which
/// the caller compiles for the level).
#[inline(always)]
fn quantize_full_blocks(
    level: SimdLevel,
    x: &[f32],
    bs: usize,
    codebook: &Codebook,
    packed: &mut [u8],
    absmax: &mut [f32],
) {
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the level is active, so the CPU has AVX-512; every blocksize is a multiple of 16.
        SimdLevel::Avx512 => unsafe { crate::avx512::quantize_full_blocks(x, bs, codebook, packed, absmax) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the level is active, so the CPU has AVX2; every blocksize is a multiple of 16.
        SimdLevel::Avx2 => unsafe { crate::avx2::quantize_full_blocks(x, bs, codebook, packed, absmax) },
        _ => {
            for ((block, packed), absmax) in x.chunks_exact(bs).zip(packed.chunks_exact_mut(bs / 2)).zip(absmax) {
                *absmax = quantize_block(block, false, codebook, packed);
            }
        }
    }
}

/// Quantizes one block into `out` (`⌈len/2⌉` bytes) and returns the absmax to store.
#[inline(always)]
fn quantize_block(x: &[f32], is_partial_tail: bool, codebook: &Codebook, out: &mut [u8]) -> f32 {
    // max|x| on the bit patterns: for non-negative floats the integer order is the float order,
    // and NaN (all exponent bits and a mantissa) sorts above +inf, so it propagates as in torch.
    let max_bits = x.iter().fold(0u32, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
    let clamped = f32::from_bits(max_bits.max(MIN_ABSMAX.to_bits()));
    let mut buckets = [0u8; Blocksize::MAX];
    let buckets = &mut buckets[..x.len()];
    if is_partial_tail {
        for (b, &v) in buckets.iter_mut().zip(x) {
            *b = codebook.bucket(v / clamped);
        }
    } else {
        let r = 1.0 / clamped;
        for (b, &v) in buckets.iter_mut().zip(x) {
            *b = codebook.bucket(v * r);
        }
    }
    if !codebook.is_monotonic() {
        let sorted = codebook.sorted_indices();
        for b in buckets.iter_mut() {
            *b = sorted[*b as usize];
        }
    }
    let (pairs, odd) = buckets.as_chunks::<2>();
    for (o, pair) in out.iter_mut().zip(pairs) {
        *o = nibble::pack(pair[0], pair[1]);
    }
    if let [last] = odd {
        out[pairs.len()] = nibble::pack(*last, codebook.index_of(0.0));
    }
    match (is_partial_tail, max_bits > INF_BITS) {
        (true, true) => f32::from_bits(NAN_TAIL_ABSMAX_BITS),
        (true, false) => clamped,
        (false, true) => first_nan_magnitude(x),
        (false, false) => f32::from_bits(max_bits),
    }
}

/// The rules of golden/bnb4bit/README.md §4, written out one element at a time. Slow; the tests'
/// yardstick for [`quantize_blocks`].
pub fn quantize_blocks_reference(
    input: FloatSlice<'_>,
    blocksize: Blocksize,
    codebook: &Codebook,
) -> (Vec<u8>, Vec<f32>) {
    let bs = blocksize.get();
    let n = input.len();
    let n_blocks = blocksize.n_blocks(n);
    let mut indices = Vec::with_capacity(n + 1);
    let mut absmax = Vec::with_capacity(n_blocks);
    for block in 0..n_blocks {
        let (start, end) = (block * bs, ((block + 1) * bs).min(n));
        let mut amax = 0f32;
        for i in start..end {
            let a = input.get_f32(i).abs();
            if amax.is_nan() {
                // torch's max keeps the first NaN it meets.
            } else if a.is_nan() || a > amax {
                amax = a;
            }
        }
        let tail = end - start < bs;
        let stored = match (tail, amax.is_nan()) {
            (true, true) => f32::from_bits(NAN_TAIL_ABSMAX_BITS),
            (true, false) => amax.max(MIN_ABSMAX),
            (false, _) => amax,
        };
        let divisor = if amax.is_nan() { amax } else { amax.max(MIN_ABSMAX) };
        let reciprocal = 1.0 / divisor;
        for i in start..end {
            let x = input.get_f32(i);
            let s = if tail { x / stored } else { x * reciprocal };
            let s = s.clamp(-1.0, 1.0);
            let bucket = if s.is_nan() { 15 } else { codebook.thresholds().iter().filter(|&&t| t < s).count() };
            indices.push(codebook.sorted_indices()[bucket]);
        }
        absmax.push(stored);
    }
    if n % 2 == 1 {
        indices.push(codebook.index_of(0.0));
    }
    let packed = indices.chunks(2).map(|p| nibble::pack(p[0], p[1])).collect();
    (packed, absmax)
}
