//! llama.cpp's block formats: 32 weights a block along each row, each block a few scale bytes
//! and 16 bytes of 4-bit codes, quantized as llama.cpp's reference (non-imatrix) quantizers do,
//! which gguf-py 0.19 writes out in numpy. Each format is one module with its block's layout and
//! its reference's rounding; `decode` holds the types only read (Q8_0, Q4_K, Q5_K, Q6_K,
//! IQ4_NL); this one what they share: the block length, ggml's nibble order, the tensor-level
//! loops and [`BlockType`], every type a GGUF reader meets.

mod decode;
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
    decode_blocks(B::NAME.as_str(), bytes, out, BLOCK, B::BYTES, B::dequantize_block)
}

/// `decode` on each block of `size` bytes and `weights` weights, in parallel, 1024 blocks a task.
fn decode_blocks(
    format: &str,
    bytes: &[u8],
    out: &mut [f32],
    weights: usize,
    size: usize,
    decode: impl Fn(&[u8], &mut [f32]) + Sync,
) -> Result<()> {
    if !out.len().is_multiple_of(weights) || bytes.len() != out.len() / weights * size {
        return Err(FormatError::BadLength {
            tensor: "the tensor".into(),
            format: format.into(),
            numel: out.len(),
            expected: out.len().div_ceil(weights) * size,
            found: bytes.len(),
        });
    }
    out.par_chunks_mut(weights * 1024).zip(bytes.par_chunks(size * 1024)).for_each(|(out, bytes)| {
        for (block, out) in bytes.chunks_exact(size).zip(out.chunks_exact_mut(weights)) {
            decode(block, out);
        }
    });
    Ok(())
}

/// Every GGUF block type quantbound reads: the formats it also writes (Q4_0, Q4_1, MXFP4), and
/// those it only decodes (Q8_0, the K-quants, IQ4_NL), to score models quantized elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockType {
    Q4_0,
    Q4_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
    Iq4Nl,
    Mxfp4,
}

impl BlockType {
    /// Every block type, for error messages.
    pub const ALL: [BlockType; 8] = [
        BlockType::Q4_0,
        BlockType::Q4_1,
        BlockType::Q8_0,
        BlockType::Q4K,
        BlockType::Q5K,
        BlockType::Q6K,
        BlockType::Iq4Nl,
        BlockType::Mxfp4,
    ];

    /// The type of ggml's `enum ggml_type` id (ggml.h).
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            2 => BlockType::Q4_0,
            3 => BlockType::Q4_1,
            8 => BlockType::Q8_0,
            12 => BlockType::Q4K,
            13 => BlockType::Q5K,
            14 => BlockType::Q6K,
            20 => BlockType::Iq4Nl,
            39 => BlockType::Mxfp4,
            _ => return None,
        })
    }

    /// ggml's name (`Q4_K`, `IQ4_NL`, …).
    pub fn name(self) -> &'static str {
        match self {
            BlockType::Q4_0 => "Q4_0",
            BlockType::Q4_1 => "Q4_1",
            BlockType::Q8_0 => "Q8_0",
            BlockType::Q4K => "Q4_K",
            BlockType::Q5K => "Q5_K",
            BlockType::Q6K => "Q6_K",
            BlockType::Iq4Nl => "IQ4_NL",
            BlockType::Mxfp4 => "MXFP4",
        }
    }

    /// (weights per block, bytes per block), as ggml's `type_traits` give them.
    pub fn block(self) -> (usize, usize) {
        match self {
            BlockType::Q4_0 => (BLOCK, Q4_0::BYTES),
            BlockType::Q4_1 => (BLOCK, Q4_1::BYTES),
            BlockType::Mxfp4 => (BLOCK, Mxfp4::BYTES),
            BlockType::Q8_0 => (BLOCK, 34),
            BlockType::Iq4Nl => (BLOCK, 18),
            BlockType::Q4K => (decode::QK_K, 144),
            BlockType::Q5K => (decode::QK_K, 176),
            BlockType::Q6K => (decode::QK_K, 210),
        }
    }

    /// Decodes whole blocks from `bytes` into `out`, which must hold their weights.
    pub fn dequantize(self, bytes: &[u8], out: &mut [f32]) -> Result<()> {
        let (weights, size) = self.block();
        let decode: fn(&[u8], &mut [f32]) = match self {
            BlockType::Q4_0 => Q4_0::dequantize_block,
            BlockType::Q4_1 => Q4_1::dequantize_block,
            BlockType::Mxfp4 => Mxfp4::dequantize_block,
            BlockType::Q8_0 => decode::q8_0,
            BlockType::Iq4Nl => decode::iq4_nl,
            BlockType::Q4K => decode::q4_k,
            BlockType::Q5K => decode::q5_k,
            BlockType::Q6K => decode::q6_k,
        };
        decode_blocks(self.name(), bytes, out, weights, size, decode)
    }
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
        crate::check_blocks(B::NAME, tensor, weights, shape, BLOCK)?;
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
