//! llama.cpp's block formats: 32 weights a block along each row, each block a few scale bytes
//! and 16 bytes of 4-bit codes, quantized as llama.cpp's reference (non-imatrix) quantizers do,
//! which gguf-py 0.19 writes out in numpy. Each format is one module with its block's layout and
//! its reference's rounding; this one holds what they share: the block length, ggml's nibble
//! order, and the tensor-level loop.

mod mxfp4;
mod q4_0;
mod q4_1;

use std::marker::PhantomData;

use rayon::prelude::*;

pub use mxfp4::Mxfp4;
pub use q4_0::Q4_0;
pub use q4_1::Q4_1;

use crate::error::{FormatError, Result};
use crate::{Format, FormatName, Quantized};

/// Weights per block (ggml's `QK4_0`, `QK4_1`, `QK_MXFP4`).
pub const BLOCK: usize = 32;

/// One block format: a block of [`BLOCK`] weights as `BYTES` bytes, and back.
pub trait Block: Send + Sync + std::fmt::Debug + 'static {
    const NAME: FormatName;
    const BYTES: usize;
    /// Encodes `x` (finite values) into `out` (`BYTES` long).
    fn quantize_block(x: &[f32; BLOCK], out: &mut [u8]);
    /// Decodes `bytes` (`BYTES` long) into `out`.
    fn dequantize_block(bytes: &[u8], out: &mut [f32]);
}

/// ggml's nibble order: element j in the low nibble of byte j, element j + 16 in its high nibble
/// (bnb's order is the other one; see quantbound-codebook's `nibble`).
pub(crate) fn pack(q: &[u8; BLOCK], out: &mut [u8]) {
    for j in 0..BLOCK / 2 {
        out[j] = q[j] | (q[j + BLOCK / 2] << 4);
    }
}

/// The codes [`pack`] packed, in element order.
pub(crate) fn unpack(bytes: &[u8]) -> [u8; BLOCK] {
    std::array::from_fn(|j| if j < BLOCK / 2 { bytes[j] & 0x0F } else { bytes[j - BLOCK / 2] >> 4 })
}

/// Decodes whole blocks of format `B` from `bytes` into `out`, which must hold their weights.
pub fn dequantize<B: Block>(bytes: &[u8], out: &mut [f32]) -> Result<()> {
    if bytes.len() != out.len() / BLOCK * B::BYTES || !out.len().is_multiple_of(BLOCK) {
        return Err(FormatError::BadLength {
            tensor: "the tensor".into(),
            format: B::NAME.to_string(),
            numel: out.len(),
            expected: out.len().div_ceil(BLOCK) * B::BYTES,
            found: bytes.len(),
        });
    }
    // In parallel, 1024 blocks a task.
    out.par_chunks_mut(BLOCK * 1024).zip(bytes.par_chunks(B::BYTES * 1024)).for_each(|(out, bytes)| {
        for (block, out) in bytes.chunks_exact(B::BYTES).zip(out.chunks_exact_mut(BLOCK)) {
            B::dequantize_block(block, out);
        }
    });
    Ok(())
}

/// The format of block type `B`.
#[derive(Debug)]
pub struct Ggml<B: Block>(PhantomData<B>);

impl<B: Block> Default for Ggml<B> {
    fn default() -> Self {
        Ggml(PhantomData)
    }
}

impl<B: Block> Format for Ggml<B> {
    fn name(&self) -> FormatName {
        B::NAME
    }

    fn bits_per_weight(&self) -> f64 {
        (8 * B::BYTES) as f64 / BLOCK as f64
    }

    fn block_size(&self) -> usize {
        BLOCK
    }

    fn quantize(&self, tensor: &str, weights: &[f32], shape: &[usize]) -> Result<Box<dyn Quantized>> {
        let row = shape.last().copied().unwrap_or(weights.len());
        if !row.is_multiple_of(BLOCK) || !weights.len().is_multiple_of(BLOCK) {
            return Err(FormatError::Unblockable {
                tensor: tensor.into(),
                format: B::NAME.to_string(),
                block: BLOCK,
                row,
            });
        }
        if let Some((index, &value)) = weights.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(FormatError::NotFinite { tensor: tensor.into(), format: B::NAME.to_string(), value, index });
        }
        let mut bytes = vec![0u8; weights.len() / BLOCK * B::BYTES];
        for (x, out) in weights.chunks_exact(BLOCK).zip(bytes.chunks_exact_mut(B::BYTES)) {
            B::quantize_block(x.try_into().expect("whole blocks"), out);
        }
        Ok(Box::new(GgmlTensor::<B> { bytes, numel: weights.len(), block: PhantomData }))
    }
}

/// A tensor in block format `B`: its blocks' bytes, as a GGUF file stores them.
#[derive(Clone, Debug)]
pub struct GgmlTensor<B: Block> {
    bytes: Vec<u8>,
    numel: usize,
    block: PhantomData<B>,
}

impl<B: Block> GgmlTensor<B> {
    /// The blocks' bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl<B: Block> Quantized for GgmlTensor<B> {
    fn numel(&self) -> usize {
        self.numel
    }

    fn storage_bytes(&self) -> usize {
        self.bytes.len()
    }

    fn dequantize_into(&self, out: &mut [f32]) -> Result<()> {
        dequantize::<B>(&self.bytes, out)
    }

    fn as_ggml_bytes(&self) -> Option<&[u8]> {
        Some(&self.bytes)
    }
}
