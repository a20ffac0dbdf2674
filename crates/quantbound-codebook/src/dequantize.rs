//! 4-bit dequantization: `out[i] = code[index_i] · absmax[i / blocksize]` in f32 over the flat
//! element index, rounded once to the output dtype.
//!
//! This is what bnb's CUDA and generic paths compute. bnb 0.50.2's AVX-512 CPU kernel picks the
//! wrong absmax when a row is not a multiple of the blocksize (golden/bnb4bit/README.md §6); we
//! always produce the correct flat-block result (docs/formats/bnb-4bit.md).

use half::{bf16, f16};
use rayon::prelude::*;

use crate::blocksize::Blocksize;
use crate::codebook::Codebook;
use crate::nibble;
use crate::simd;

/// Elements written by one rayon task.
const TASK_ELEMENTS: usize = 1 << 16;

/// Mutable output in one of the float dtypes.
pub enum FloatSliceMut<'a> {
    F32(&'a mut [f32]),
    F16(&'a mut [f16]),
    Bf16(&'a mut [bf16]),
}

impl FloatSliceMut<'_> {
    pub fn len(&self) -> usize {
        match self {
            FloatSliceMut::F32(s) => s.len(),
            FloatSliceMut::F16(s) => s.len(),
            FloatSliceMut::Bf16(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Dequantizes `packed`/`absmax` into `out`, whose length is the element count. The caller checks
/// that `packed` and `absmax` have the lengths that count implies.
pub(crate) fn dequantize_blocks(
    packed: &[u8],
    absmax: &[f32],
    blocksize: Blocksize,
    codebook: &Codebook,
    out: FloatSliceMut<'_>,
) {
    debug_assert_eq!(packed.len(), nibble::packed_len(out.len()));
    debug_assert_eq!(absmax.len(), blocksize.n_blocks(out.len()));
    let values = codebook.values();
    match out {
        FloatSliceMut::F32(out) => in_parallel(packed, absmax, blocksize, values, out),
        FloatSliceMut::F16(out) => in_parallel(packed, absmax, blocksize, values, out),
        FloatSliceMut::Bf16(out) => in_parallel(packed, absmax, blocksize, values, out),
    }
}

/// An output element type: f32 is written in place, narrower types through an f32 block buffer.
trait Element: Copy + Send {
    fn write_block(bytes: &[u8], scale: f32, values: &[f32; 16], out: &mut [Self], buffer: &mut [f32]);
}

impl Element for f32 {
    #[inline(always)]
    fn write_block(bytes: &[u8], scale: f32, values: &[f32; 16], out: &mut [f32], _: &mut [f32]) {
        dequantize_block(bytes, scale, values, out);
    }
}

impl Element for f16 {
    #[inline(always)]
    fn write_block(bytes: &[u8], scale: f32, values: &[f32; 16], out: &mut [f16], buffer: &mut [f32]) {
        let buffer = &mut buffer[..out.len()];
        dequantize_block(bytes, scale, values, buffer);
        half::slice::HalfFloatSliceExt::convert_from_f32_slice(out, buffer);
    }
}

impl Element for bf16 {
    #[inline(always)]
    fn write_block(bytes: &[u8], scale: f32, values: &[f32; 16], out: &mut [bf16], buffer: &mut [f32]) {
        let buffer = &mut buffer[..out.len()];
        dequantize_block(bytes, scale, values, buffer);
        simd::f32_to_bf16(buffer, out);
    }
}

fn in_parallel<T: Element>(packed: &[u8], absmax: &[f32], blocksize: Blocksize, values: &[f32; 16], out: &mut [T]) {
    let bs = blocksize.get();
    let per_task = (TASK_ELEMENTS / bs).max(1) * bs;
    out.par_chunks_mut(per_task).enumerate().for_each(|(task, out)| {
        let mut buffer = [0f32; Blocksize::MAX];
        for (k, out) in out.chunks_mut(bs).enumerate() {
            let block = task * per_task / bs + k;
            let start = block * bs / 2;
            let bytes = &packed[start..start + out.len().div_ceil(2)];
            T::write_block(bytes, absmax[block], values, out, &mut buffer);
        }
    });
}

/// One block (or the partial last one): `bytes` holds `⌈out.len()/2⌉` packed bytes.
#[inline(always)]
fn dequantize_block(bytes: &[u8], scale: f32, values: &[f32; 16], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if out.len() % 16 == 0 && simd::has_avx512() {
        // SAFETY: the CPU has AVX-512, and the lengths are what the kernel needs.
        unsafe { crate::avx512::dequantize_block(bytes, scale, values, out) };
        return;
    }
    // code · absmax once per value and block; the same single f32 rounding as bnb.
    let table: [f32; 16] = std::array::from_fn(|i| values[i] * scale);
    let (pairs, odd) = out.as_chunks_mut::<2>();
    for (pair, &byte) in pairs.iter_mut().zip(bytes) {
        let (first, second) = nibble::unpack(byte);
        pair[0] = table[first as usize];
        pair[1] = table[second as usize];
    }
    if let [last] = odd {
        *last = table[nibble::unpack(bytes[pairs.len()]).0 as usize];
    }
}

/// The reference formula, one element at a time; the tests' yardstick for [`dequantize_blocks`].
pub fn dequantize_blocks_reference(
    packed: &[u8],
    absmax: &[f32],
    blocksize: Blocksize,
    codebook: &Codebook,
    numel: usize,
) -> Vec<f32> {
    (0..numel)
        .map(|i| {
            let (first, second) = nibble::unpack(packed[i / 2]);
            let index = if i % 2 == 0 { first } else { second };
            codebook.values()[index as usize] * absmax[i / blocksize.get()]
        })
        .collect()
}
