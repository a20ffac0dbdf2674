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
use crate::state::Absmax;
use quantbound_simd::SimdLevel;

/// Elements written by one rayon task.
const TASK_ELEMENTS: usize = 1 << 16;

/// Outputs of at least this many bytes are written with non-temporal stores.
const STREAM_BYTES: usize = 16 << 20;

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
    absmax: &Absmax,
    blocksize: Blocksize,
    codebook: &Codebook,
    out: FloatSliceMut<'_>,
) {
    debug_assert_eq!(packed.len(), nibble::packed_len(out.len()));
    debug_assert_eq!(absmax.len(), blocksize.n_blocks(out.len()));
    match absmax {
        Absmax::Plain(a) => dispatch(packed, |block| a[block], blocksize, codebook, out),
        // The absmax is rebuilt block by block, so no buffer is allocated.
        Absmax::Double(d) => dispatch(packed, |block| d.absmax_of(block), blocksize, codebook, out),
    }
}

/// Dequantizes bnb-packed nibbles with a plain f32 absmax into `out` (whose length is the element
/// count), for callers that hold the parts in their own buffers (e.g. a tensor's storage).
/// Lengths are checked; `tensor` names the weight in the error.
pub fn dequantize_packed(
    tensor: &str,
    packed: &[u8],
    absmax: &[f32],
    blocksize: Blocksize,
    codebook: &Codebook,
    out: FloatSliceMut<'_>,
) -> crate::Result<()> {
    let numel = out.len();
    let check = |what: &'static str, expected: usize, found: usize| {
        if expected == found {
            Ok(())
        } else {
            Err(crate::CodebookError::Length { tensor: tensor.to_owned(), what, expected, found })
        }
    };
    check("packed weight", nibble::packed_len(numel), packed.len())?;
    check("absmax", blocksize.n_blocks(numel), absmax.len())?;
    dispatch(packed, |block| absmax[block], blocksize, codebook, out);
    Ok(())
}

fn dispatch(
    packed: &[u8],
    absmax: impl Fn(usize) -> f32 + Sync,
    blocksize: Blocksize,
    codebook: &Codebook,
    out: FloatSliceMut<'_>,
) {
    let values = codebook.values();
    match out {
        FloatSliceMut::F32(out) => in_parallel(packed, absmax, blocksize, values, out),
        FloatSliceMut::F16(out) => in_parallel(packed, absmax, blocksize, values, out),
        FloatSliceMut::Bf16(out) => in_parallel(packed, absmax, blocksize, values, out),
    }
}

/// The output types of the SIMD dequantize kernels.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Output {
    F32,
    F16,
    Bf16,
}

/// How a SIMD dequantize kernel writes: the output type, and whether its f32 lookups use
/// non-temporal 16-byte stores (set only for 16-byte-aligned outputs far larger than the cache).
#[derive(Clone, Copy)]
pub(crate) struct Store {
    pub(crate) kind: Output,
    pub(crate) stream: bool,
}

/// An output element type: how to round an f32 to it, and which kernel output writes it.
trait Element: Copy + Send {
    /// f32 → this type, rounding as torch does.
    fn from_f32(v: f32) -> Self;
    const KERNEL: Output;
}

impl Element for f32 {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        v
    }
    const KERNEL: Output = Output::F32;
}

impl Element for f16 {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
    const KERNEL: Output = Output::F16;
}

impl Element for bf16 {
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        simd::bf16_round(v)
    }
    const KERNEL: Output = Output::Bf16;
}

/// The 16 outputs of one block: `code · absmax` once per value in f32 (the single f32 rounding
/// bnb does), then rounded to `T`.
#[inline(always)]
fn block_table<T: Element>(values: &[f32; 16], scale: f32) -> [T; 16] {
    std::array::from_fn(|i| T::from_f32(values[i] * scale))
}

fn in_parallel<T: Element>(
    packed: &[u8],
    absmax: impl Fn(usize) -> f32 + Sync,
    blocksize: Blocksize,
    values: &[f32; 16],
    out: &mut [T],
) {
    let bs = blocksize.get();
    let per_task = (TASK_ELEMENTS / bs).max(1) * bs;
    let level = quantbound_simd::active();
    // Outputs far larger than a core's cache are written around it (non-temporal stores): no
    // read-for-ownership of lines that are overwritten whole. Smaller ones stay cached for
    // their reader (the 4-bit linear's GEMM). The stores need 16-byte alignment; every task's
    // slice keeps the start's, since tasks are whole blocks of at least 32 elements.
    let stream = std::mem::size_of_val(out) >= STREAM_BYTES && (out.as_ptr() as usize).is_multiple_of(16);
    out.par_chunks_mut(per_task).enumerate().for_each(|(task, out)| {
        let first_block = task * per_task / bs;
        // Whole blocks go to the level's kernel; the partial last block, and every block at the
        // portable levels, to the portable lookup compiled for the level.
        let whole = out.len() / bs * bs;
        let done = match level {
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => {
                // SAFETY: the level is active, so the CPU has AVX-512 (F16C comes with it); `T`
                // matches `KERNEL`; the slice holds whole blocks, each a multiple of 32 long, and is
                // 16-byte aligned when `stream` is set.
                unsafe {
                    crate::avx512::dequantize_blocks(
                        packed,
                        &absmax,
                        first_block,
                        bs,
                        values,
                        Store { kind: T::KERNEL, stream },
                        &mut out[..whole],
                    )
                };
                whole
            }
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => {
                let table = |block| block_table::<T>(values, absmax(block));
                // SAFETY: the level is active, so the CPU has AVX2; `T` matches `KERNEL`; the
                // slice holds whole blocks, each a multiple of 32 long, and is 16-byte aligned
                // when `stream` is set.
                unsafe {
                    crate::avx2::dequantize_blocks(
                        packed,
                        table,
                        first_block,
                        bs,
                        Store { kind: T::KERNEL, stream },
                        &mut out[..whole],
                    )
                };
                whole
            }
            _ => 0,
        };
        level.vectorize(
            #[inline(always)]
            || {
                for (k, out) in out[done..].chunks_mut(bs).enumerate() {
                    let block = first_block + done / bs + k;
                    let start = block * bs / 2;
                    let bytes = &packed[start..start + out.len().div_ceil(2)];
                    lookup(bytes, &block_table(values, absmax(block)), out);
                }
            },
        );
    });
}

/// The portable lookup for one block (or the partial last one): `bytes` holds `⌈out.len()/2⌉`
/// packed bytes.
#[inline(always)]
fn lookup<T: Copy>(bytes: &[u8], table: &[T; 16], out: &mut [T]) {
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
